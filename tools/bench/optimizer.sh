#!/usr/bin/env bash
# Optimizer step benchmark (see tools/bench/README.md): flat-buffer AdamW vs the per-parameter one, one step =
# clip + update + zero_grad. bash tools/bench/optimizer.sh [--threads N] [--repeats R] [--window STEPS]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec dotnet run -c Release --project tools/bench/Pretrain.Bench -- --optimizer "$@"
