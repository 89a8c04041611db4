#!/usr/bin/env bash
# QLoRA figures (results: docs/model-import.md): (1) memory of the quantized linear weights of a Llama-shaped ~100M model,
# fp32 vs int8 vs nf4, beside the whole base; (2) the small Llama base (recipes/pretrain/llama-small-clm.yaml), then LoRA SFT
# on it with a float32 and an NF4 base (recipes/finetune/llama-small-qlora-sft.yaml, same data and seed), loss curves side by
# side and the median step time.
# Usage: tools/bench/qlora.sh [OUT_DIR (runs/qlora-bench)]   (after: tools/data/text-corpora.sh)
# Env: PRETRAIN  command that runs the CLI (default: dotnet run -c Release --project src/Pretrain.Cli --)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${1:-runs/qlora-bench}"
read -r -a pretrain <<< "${PRETRAIN:-dotnet run -c Release --project $root/src/Pretrain.Cli --}"
bench=(dotnet run -c Release --project "$root/tools/bench/Pretrain.Bench.Qlora" --)
mkdir -p "$out"

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores), $(date -u +%FT%TZ)"
echo "## Memory"
"${bench[@]}" memory

echo "## Base"
[ -f "$out/llama-small-clm/summary.json" ] || "${pretrain[@]}" run recipes/pretrain/llama-small-clm.yaml --run-dir "$out/llama-small-clm"
grep '"eval_loss"' "$out/llama-small-clm/metrics.jsonl" | tail -1

echo "## LoRA SFT, float32 base vs NF4 base"
for q in none nf4; do
  [ -f "$out/sft-$q/summary.json" ] || "${pretrain[@]}" run recipes/finetune/llama-small-qlora-sft.yaml --run-dir "$out/sft-$q" \
    --set "init.checkpoint=$out/llama-small-clm" --set "lora.quantize_base=$q"
done
"${bench[@]}" curves "$out/sft-none" "$out/sft-nf4" 10
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
