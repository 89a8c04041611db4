#!/usr/bin/env bash
# Builds the bundle that a GPU check runs: a self-contained `pretrain` (linux-x64) published with
# -p:TorchBackend=external, so libtorch (CUDA) comes from the GPU machine's own PyTorch install through
# LD_LIBRARY_PATH. ONNX Runtime's and ParquetSharp's native libraries are left out by default to fit the 64 MiB
# transfer limit (training never loads them: ONNX export/validation and the v2-list-page Parquet fallback do);
# FULL=1 keeps them.
#
# Usage: tools/gpu/bundle.sh            → .cache/gpu/pretrain-linux-x64.tar.xz (git-ignored)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/.cache/gpu"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$out"
dotnet publish "$root/src/Pretrain.Cli" -c Release -r linux-x64 --self-contained -p:TorchBackend=external \
  -o "$stage/pretrain" -nologo -v quiet
# The collectives probe (tests/Pretrain.Distributed.Probe) for check.sh's nccl phase, published apart and then only
# its own files copied next to `pretrain` (same runtime; the CLI's shared dependencies stay the CLI's versions).
dotnet publish "$root/tests/Pretrain.Distributed.Probe" -c Release -r linux-x64 --self-contained -p:TorchBackend=external \
  -o "$stage/probe" -nologo -v quiet
cp "$stage/probe"/Pretrain.Distributed.Probe{,.dll,.deps.json,.runtimeconfig.json} "$stage/probe/Pretrain.Distributed.dll" "$stage/pretrain/"
# Never used by `pretrain run`: debugger/diagnostics support of the runtime (DAC, DBI, createdump, LTTng tracing)
# and the standalone GC variants.
excludes=(--exclude='*.pdb' --exclude=libmscordaccore.so --exclude=libmscordbi.so --exclude=createdump
  --exclude=libcoreclrtraceptprovider.so --exclude=libclrgc.so --exclude=libclrgcexp.so)
if [ "${FULL:-0}" != 1 ]; then excludes+=(--exclude=libonnxruntime.so --exclude=ParquetSharpNative.so); fi
tar -C "$stage" "${excludes[@]}" -cf - pretrain | xz -T0 -9e > "$out/pretrain-linux-x64.tar.xz.tmp"
mv "$out/pretrain-linux-x64.tar.xz.tmp" "$out/pretrain-linux-x64.tar.xz"
ls -l "$out/pretrain-linux-x64.tar.xz"
