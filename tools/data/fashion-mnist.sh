#!/usr/bin/env bash
# Fashion-MNIST (Zalando Research, MIT): 60,000 train + 10,000 test 28×28 gray images in 10 classes, taken from
# Debian's dataset-fashion-mnist package (IDX files) and converted with `pretrain data prepare idx` into Parquet
# shards in the Hugging Face image layout: image {bytes: PNG, path} + int64 label, plus classes.json.
#
# Usage: tools/data/fashion-mnist.sh [CACHE_DIR]        (default CACHE_DIR: <repo>/.cache/data, git-ignored)
# Output: CACHE_DIR/fashion-mnist/{train,test}/part-*.parquet and classes.json. Work already done is skipped.
# Environment: PRETRAIN  command that runs the CLI (default: dotnet run -c Release --project <repo>/src/Pretrain.Cli --)
#              ROWS_PER_GROUP  rows per Parquet row group (default 1000)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${1:-$root/.cache/data}"
out="$cache/fashion-mnist"
rows_per_group="${ROWS_PER_GROUP:-1000}"
classes="T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot"

if [ -f "$out/train/.complete" ] && [ -f "$out/test/.complete" ]; then
  echo "fashion-mnist: already prepared in $out"
  exit 0
fi

debs="$cache/debs"
mkdir -p "$debs"
shopt -s nullglob
found=("$debs"/dataset-fashion-mnist_*.deb)
if [ ${#found[@]} -eq 0 ]; then
  echo "fashion-mnist: apt-get download dataset-fashion-mnist"
  if ! (cd "$debs" && apt-get download dataset-fashion-mnist); then
    # A machine whose package lists are missing or stale: refresh them once (root only) and try again.
    if [ "$(id -u)" -eq 0 ] && apt-get update -qq && (cd "$debs" && apt-get download dataset-fashion-mnist); then
      :
    else
      echo "error: could not download Debian's dataset-fashion-mnist package (apt-get download failed)." >&2
      echo "       This needs apt and a reachable Debian mirror; run 'apt-get update' and try again." >&2
      exit 1
    fi
  fi
  found=("$debs"/dataset-fashion-mnist_*.deb)
fi
deb="${found[0]}"

extract="$cache/fashion-mnist-deb"
src="$extract/usr/share/datasets/fashion-mnist"
if [ ! -f "$src/t10k-labels-idx1-ubyte.gz" ]; then
  rm -rf "$extract"
  dpkg -x "$deb" "$extract" || { echo "error: dpkg -x $deb failed; delete it and run again." >&2; exit 1; }
fi

if [ -n "${PRETRAIN:-}" ]; then
  read -r -a pretrain <<< "$PRETRAIN"
else
  pretrain=(dotnet run -c Release --project "$root/src/Pretrain.Cli" --)
fi

for split in train:train test:t10k; do
  name="${split%%:*}"
  stem="${split##*:}"
  if [ -f "$out/$name/.complete" ]; then
    continue
  fi
  rm -f "$out/$name/.complete"
  "${pretrain[@]}" data prepare idx "$src/$stem-images-idx3-ubyte.gz" "$src/$stem-labels-idx1-ubyte.gz" \
    --out "$out/$name" --rows-per-group "$rows_per_group" --classes "$classes"
  touch "$out/$name/.complete"
done
rm -rf "$extract" # the .deb stays in $debs; the Parquet shards are what later runs read
echo "fashion-mnist: $out/train and $out/test"
