#!/usr/bin/env bash
# Data-parallel training throughput (docs/distributed.md "Data-parallel training"):
#   bash tools/bench/data-parallel.sh [REPEATS=3] [STEPS=40]
# The same global batch three ways on this machine, interleaved REPEATS times, each a fresh `pretrain run` of a
# GPT d128/L2 seq-128 causal LM on synthetic text:
#   1p×1t  one process, 1 intra-op thread, micro-batch 2B
#   1p×2t  one process, 2 threads,         micro-batch 2B
#   2p×1t  mpirun -np 2, 1 thread each,    micro-batch B per rank
# tokens/s is the run's summary.json tokens_per_s_median (the job's tokens over wall time, first window excluded).
# Prints a markdown table of medians and the ratios to 1p×2t, with the CPU model.
set -euo pipefail
cd "$(dirname "$0")/../.."
repeats=${1:-3}
steps=${2:-40}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dotnet build -c Release src/Pretrain.Cli -o "$work/cli" >/dev/null
cli=(dotnet "$work/cli/pretrain.dll")
cat > "$work/r.yaml" <<'YAML'
name: dp-bench
model: {arch: gpt2, max_seq_len: 128, embed_dim: 128, num_layers: 2, num_heads: 4}
tokenizer: {kind: byte}
data:
  train: {synthetic: {kind: text, rows: 2000, shards: 2, rows_per_group: 100, seed: 0}}
optimizer: {lr: 1.0e-3}
schedule: {kind: constant, warmup_steps: 0}
train: {seq_len: 128, micro_batch_size: 8, log_every: 5, checkpoint_every: 100000}
YAML
run() { # name, launcher..., -- sets...
  local name=$1; shift
  local dir="$work/$name-$RANDOM"
  "$@" run "$work/r.yaml" --run-dir "$dir" --no-export --set "train.max_steps=$steps" >/dev/null 2>&1
  grep -o '"tokens_per_s_median": [0-9.eE+-]*' "$dir/summary.json" | awk '{print $2}'
}
declare -A results
for ((i = 0; i < repeats; i++)); do
  results[1p1t]+="$(cd "$work" && run 1p1t "${cli[@]}" --set train.threads=1 --set train.micro_batch_size=16) "
  results[1p2t]+="$(cd "$work" && run 1p2t "${cli[@]}" --set train.threads=2 --set train.micro_batch_size=16) "
  results[2p1t]+="$(cd "$work" && run 2p1t mpirun --allow-run-as-root --oversubscribe -np 2 "${cli[@]}" --set train.threads=1 --set train.micro_batch_size=8) "
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
base=$(echo "${results[1p2t]}" | median)
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(date -u +%Y-%m-%d); $repeats repeats × $steps steps, global batch 16 × 128 tokens"
echo
echo "| layout | tokens/s (median) | runs | vs 1p×2t |"
echo "| --- | --- | --- | --- |"
for k in 1p1t 1p2t 2p1t; do
  m=$(echo "${results[$k]}" | median)
  printf '| %s | %.0f | %s | %.2f× |\n' "$k" "$m" "$(echo ${results[$k]} | xargs | tr ' ' '/')" "$(awk -v a="$m" -v b="$base" 'BEGIN {print a / b}')"
done
