#!/usr/bin/env bash
# Activation checkpointing benchmark (Release; tools/bench/README.md): peak RSS and step time, GPT d384/L6 at seq 1024,
# with and without checkpointing, each run in its own process, interleaved, medians of the repeats.
# Usage: tools/bench/checkpoint.sh [--repeats R] [--steps S] [--threads N] [--seq T] [--batch B]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec dotnet run -c Release --project "$here/Pretrain.Bench.Checkpoint/Pretrain.Bench.Checkpoint.csproj" -- "$@"
