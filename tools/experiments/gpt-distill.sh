#!/usr/bin/env bash
# Issue 14's decoder distillation experiment: a GPT teacher (recipes/pretrain/gpt-d384-l6-clm.yaml, or a smaller
# configuration through SCALE) on Moby Dick + State of the Union, then two half-depth students that start from every
# other teacher block (objective.student_init teacher_layers) and see the same tokens: alpha 0.5 (distilled,
# 0.5·T²·KL(teacher ‖ student) + 0.5·CE, T 2) and alpha 0 (plain next-token training). Held-out perplexity (the
# recipe's 5 % row split, eval.max_batches 20) of the teacher and each student at the end, as a table.
# Usage: tools/experiments/gpt-distill.sh   (after tools/data/text-corpora.sh)
# Env: PRETRAIN (command running the CLI; default `dotnet run -c Release --project src/Pretrain.Cli --`),
#      RUNS (default runs/experiments), TEACHER_STEPS / STUDENT_STEPS (default: the recipe's), LAYERS (teacher depth,
#      default 6), SCALE (further `--set` overrides for all three runs, e.g. the CPU configuration of
#      docs/distillation-and-quantization.md: "model.embed_dim=128 model.num_heads=4 tokenizer.kind=byte train.seq_len=128 model.max_seq_len=128").
set -euo pipefail
cd "$(dirname "$0")/../.."
read -r -a pretrain <<< "${PRETRAIN:-dotnet run -c Release --project src/Pretrain.Cli --}"
runs="${RUNS:-runs/experiments}"
layers="${LAYERS:-6}"
recipe=recipes/pretrain/gpt-d384-l6-clm.yaml
scale=(); for kv in ${SCALE:-}; do scale+=(--set "$kv"); done
steps() { [ -n "${1:-}" ] && echo "--set train.max_steps=$1 --set train.eval_every=$1 --set train.checkpoint_every=$1" || true; }
mkdir -p "$runs"
teacher="$runs/gpt-teacher"
echo "gpt-distill: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
if [ ! -f "$teacher/summary.json" ]; then
  rm -rf "$teacher"
  # shellcheck disable=SC2046
  "${pretrain[@]}" run "$recipe" --run-dir "$teacher" --no-export "${scale[@]}" --set "model.num_layers=$layers" \
    $(steps "${TEACHER_STEPS:-}") > "$runs/gpt-teacher.log" 2>&1
fi
student() { # alpha
  local dir="$runs/gpt-student-a$1"
  [ -f "$dir/summary.json" ] && return 0
  rm -rf "$dir"
  # shellcheck disable=SC2046
  "${pretrain[@]}" run "$recipe" --run-dir "$dir" --no-export "${scale[@]}" --set "model.num_layers=$((layers / 2))" \
    --set objective.kind=distill --set objective.task=clm --set "objective.teacher=$teacher" \
    --set objective.student_init=teacher_layers --set "objective.alpha=$1" --set objective.temperature=2 \
    $(steps "${STUDENT_STEPS:-}") > "$runs/gpt-student-a$1.log" 2>&1 \
    || echo "gpt-distill: student alpha $1 failed; see $runs/gpt-student-a$1.log" >&2
}
student 0.5 & student 0 & wait
python3 - "$runs" <<'PY'
import json, math, os, sys
runs = sys.argv[1]
def evals(d):
    rows = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl")) if '"eval_loss"' in l]
    tokens = [json.loads(l).get("tokens") for l in open(os.path.join(d, "metrics.jsonl")) if '"loss"' in l and '"eval_loss"' not in l]
    return rows[0], rows[-1]
print("\n| model | layers | steps | held-out loss (nats/token) | held-out perplexity | step-0 perplexity |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for name, label in (("gpt-teacher", "teacher"), ("gpt-student-a0.5", "student, distilled (alpha 0.5, T 2)"), ("gpt-student-a0", "student, plain (alpha 0)")):
    d = os.path.join(runs, name)
    if not os.path.exists(os.path.join(d, "summary.json")):
        print(f"| {label} | — | — | not run | | |"); continue
    cfg = open(os.path.join(d, "recipe.yaml")).read()
    first, last = evals(d)
    layers = next((l.split(":")[1].strip() for l in cfg.splitlines() if l.strip().startswith("num_layers:")), "?")
    print(f"| {label} | {layers} | {last['step']} | {last['eval_loss']:.4f} | {math.exp(last['eval_loss']):.2f} | {math.exp(first['eval_loss']):.2f} |")
PY
