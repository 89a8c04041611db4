#!/usr/bin/env bash
# All-reduce bus bandwidth of the MPI backend (1 MB … 256 MB float32) vs a plain memory copy; prints a Markdown table.
# Usage: tools/bench/allreduce.sh [--np N] [--repeats N] [--sizes-mb 1,4,16,64,256]
# Needs Open MPI (apt-get install openmpi-bin libopenmpi-dev). --oversubscribe lets N exceed the cores.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
np=2
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --np) np="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
dotnet build -c Release "$here/Pretrain.Bench.Collectives/Pretrain.Bench.Collectives.csproj" -nologo -v quiet >/dev/null
dll="$here/Pretrain.Bench.Collectives/bin/Release/net10.0/Pretrain.Bench.Collectives.dll"
root_flag=()
[ "$(id -u)" = 0 ] && root_flag=(--allow-run-as-root)
exec mpirun "${root_flag[@]}" --oversubscribe --bind-to none -np "$np" dotnet "$dll" "${args[@]}"
