#!/usr/bin/env bash
# ZeRO-1's memory and time (docs/distributed.md "ZeRO-1"):
#   bash tools/bench/zero.sh [REPEATS=3] [STEPS=20]
# A GPT d256/L4 seq-64 causal LM on synthetic text, micro-batch 4 per rank, one thread per rank, at 1, 2 and 3 ranks
# (mpirun -np N on this machine) with train.zero 0 and 1, interleaved REPEATS times, each a fresh `pretrain run`.
# Per layout, from rank 0's summary.json: optimizer_state_bytes (the moments counted: all of them, or rank 0's shard),
# peak_memory_bytes (rank 0's peak RSS) and tokens_per_s_median; medians over the repeats, and ZeRO-1 / ZeRO-0 ratios.
# The load average (1 min) before and after is printed: the machine is shared, so read the times with it.
set -euo pipefail
cd "$(dirname "$0")/../.."
repeats=${1:-3}
steps=${2:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dotnet build -c Release src/Pretrain.Cli -o "$work/cli" >/dev/null
cli=(dotnet "$work/cli/pretrain.dll")
cat > "$work/r.yaml" <<'YAML'
name: zero-bench
model: {arch: gpt2, max_seq_len: 64, embed_dim: 256, num_layers: 4, num_heads: 4}
tokenizer: {kind: byte}
data:
  train: {synthetic: {kind: text, rows: 2000, shards: 2, rows_per_group: 100, seed: 0}}
optimizer: {lr: 1.0e-3}
schedule: {kind: constant, warmup_steps: 0}
train: {seq_len: 64, micro_batch_size: 4, threads: 1, log_every: 5, checkpoint_every: 100000}
YAML
run() { # NP ZERO: one fresh run; prints "state_bytes rss_bytes tokens_per_s"
  local dir="$work/run-$1-$2-$RANDOM"
  local launch=("${cli[@]}")
  [ "$1" -gt 1 ] && launch=(mpirun --allow-run-as-root --oversubscribe -np "$1" "${cli[@]}")
  (cd "$work" && "${launch[@]}" run "$work/r.yaml" --run-dir "$dir" --no-export --set "train.max_steps=$steps" \
    --set "train.zero=$2" >"$dir.log" 2>&1) || { cat "$dir.log" >&2; exit 1; }
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["optimizer_state_bytes"], s["peak_memory_bytes"], s["tokens_per_s_median"])' "$dir/summary.json"
}
declare -A state rss tps
load_before=$(cut -d' ' -f1 /proc/loadavg)
for ((i = 0; i < repeats; i++)); do
  for np in 1 2 3; do
    for zero in 0 1; do
      read -r s r t < <(run "$np" "$zero")
      state[$np$zero]=$s
      rss[$np$zero]+="$r "
      tps[$np$zero]+="$t "
    done
  done
done
load_after=$(cut -d' ' -f1 /proc/loadavg)
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(date -u +%Y-%m-%d); $repeats repeats × $steps steps;" \
  "load average (1 min) $load_before before, $load_after after"
echo
echo "| ranks | zero | optimizer state on rank 0 (bytes) | vs zero 0 | peak RSS rank 0 (MiB, median) | tokens/s (median, job) | time ratio zero1/zero0 |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for np in 1 2 3; do
  for zero in 0 1; do
    r=$(echo "${rss[$np$zero]}" | median)
    t=$(echo "${tps[$np$zero]}" | median)
    t0=$(echo "${tps[${np}0]}" | median)
    printf '| %s | %s | %s | %.3f | %.0f | %.0f (%s) | %s |\n' "$np" "$zero" "${state[$np$zero]}" \
      "$(awk -v a="${state[$np$zero]}" -v b="${state[${np}0]}" 'BEGIN {print a / b}')" \
      "$(awk -v a="$r" 'BEGIN {print a / 1048576}')" "$t" "$(echo ${tps[$np$zero]} | xargs | tr ' ' '/')" \
      "$(awk -v a="$t0" -v b="$t" 'BEGIN {printf "%.2f", a / b}')"
  done
done
