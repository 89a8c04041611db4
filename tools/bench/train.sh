#!/usr/bin/env bash
# Training throughput benchmark (see tools/bench/README.md): bash tools/bench/train.sh [--quick] [--threads N] [--repeats R]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec dotnet run -c Release --project tools/bench/Pretrain.Bench -- "$@"
