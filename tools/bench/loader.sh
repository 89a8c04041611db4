#!/usr/bin/env bash
# Loader benchmark (Release): tokenizer alone vs. Parquet → packed blocks, and peak memory at two dataset sizes.
# Usage: tools/bench/loader.sh [--rows N] [--rows-per-group N] [--shards N] [--repeats N] [--block N] [--memory-scale K]
#                              [--images N] [--jpegs N] [--image-files GLOB] [--images-only] [--text-files GLOB]
# --text-files: time (a)–(c) on real Parquet text (e.g. '.cache/data/sotu/*.parquet') instead of synthetic shards.
# Images: decode + augment images/s (28×28 PNG crop/flip/normalise, two views; 256 JPEG → SimCLR 224).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec dotnet run -c Release --project "$here/Pretrain.Bench.Loader/Pretrain.Bench.Loader.csproj" -- "$@"
