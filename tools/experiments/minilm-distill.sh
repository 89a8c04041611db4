#!/usr/bin/env bash
# Issue 14's SpamAssassin distillation experiment (and issue 13's rerun of the MiniLM recipe), end to end:
#   1. teacher: recipes/finetune/minilm-full-classify.yaml as written (all-MiniLM-L6-v2, 6 layers, full fine-tune,
#      held-out split data.eval.fraction 0.1 of train.seed 1337: 590 rows);
#   2. check: `pretrain eval` of the teacher on .cache/data/spam-assassin-heldout (tools/experiments/spam-holdout.sh)
#      equals its eval on the recipe's own split (--holdout 0.1 --seed 1337), so the students below are scored on
#      the rows the teacher never trained on;
#   3. students: tools/experiments/minilm-student-distill.yaml (3 layers = teacher blocks 0, 2, 4 + embeddings and head,
#      objective.student_init teacher_layers), trained on the teacher's 5,456 train rows, for each seed in SEEDS:
#      alpha 0.5 (distilled: 0.5·T²·KL + 0.5·CE, T 2) and alpha 0 (hard labels only: the same student fine-tuned
#      without a teacher), same rows, steps and seeds. LANES runs go side by side.
#      Each student is scored once, after its last step, by `pretrain eval` on the held-out file (no in-run evals).
#   4. a table: held-out accuracy (590 rows) of the teacher and of each student arm, mean ± sample sd and min–max.
# Usage: tools/experiments/minilm-distill.sh
#   (after tools/data/minilm.sh, tools/data/text-corpora.sh, tools/data/spam-shuffled.sh, tools/experiments/spam-holdout.sh)
# Env: PRETRAIN (command running the CLI; default `dotnet run -c Release --project src/Pretrain.Cli --`),
#      RUNS (run folders; default runs/experiments, git-ignored), SEEDS ("1 2 3"), STEPS (50), SEQ (64),
#      ARMS ("0.5 0": the alphas), LANES (3: runs at a time), CHECK (1: do step 2). Runs already finished (summary.json) are reused.
set -euo pipefail
cd "$(dirname "$0")/../.."
read -r -a pretrain <<< "${PRETRAIN:-dotnet run -c Release --project src/Pretrain.Cli --}"
runs="${RUNS:-runs/experiments}"
seeds="${SEEDS:-1 2 3}"
steps="${STEPS:-50}"
seq="${SEQ:-64}"
lanes="${LANES:-3}"
heldout=.cache/data/spam-assassin-heldout/part-00000.parquet
[ -f "$heldout" ] || { echo "minilm-distill: $heldout is missing; run tools/experiments/spam-holdout.sh first" >&2; exit 1; }
mkdir -p "$runs"
teacher="$runs/minilm-full-classify"

echo "minilm-distill: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
if [ ! -f "$teacher/summary.json" ]; then
  rm -rf "$teacher"
  "${pretrain[@]}" run recipes/finetune/minilm-full-classify.yaml --run-dir "$teacher" > "$runs/teacher.log" 2>&1
fi

if [ "${CHECK:-1}" = 1 ] && [ ! -f "$runs/teacher-eval-split.json" ]; then
  "${pretrain[@]}" eval "$teacher" --data .cache/data/spam-assassin-shuffled/part-00000.parquet --holdout 0.1 --seed 1337 \
    --out "$runs/teacher-eval-split.json" > /dev/null
  "${pretrain[@]}" eval "$teacher" --data "$heldout" --out "$runs/teacher-eval-file.json" > /dev/null
fi

# The teacher's tokenizer: its last checkpoint's tokenizer/ folder (the student's must encode the same, DistillTeacher checks).
tokenizer="$(ls -d "$teacher"/checkpoints/step-*/ | sort | tail -n 1)tokenizer"
run_student() { # alpha seed
  local dir="$runs/student-a$1-s$2"
  [ -f "$dir/eval-heldout.json" ] && return 0
  rm -rf "$dir"
  "${pretrain[@]}" run tools/experiments/minilm-student-distill.yaml --run-dir "$dir" \
    --set "objective.teacher=$teacher" --set "tokenizer.path=$tokenizer" --set "objective.alpha=$1" \
    --set "train.seed=$2" --set "train.max_steps=$steps" --set "train.checkpoint_every=$steps" --set "train.seq_len=$seq" \
    > "$runs/student-a$1-s$2.log" 2>&1 \
    && "${pretrain[@]}" eval "$dir" --data "$heldout" --out "$dir/eval-heldout.json" >> "$runs/student-a$1-s$2.log" 2>&1 \
    || echo "minilm-distill: student alpha $1 seed $2 failed; see $runs/student-a$1-s$2.log" >&2
}

# Interleave the arms so that a stopped batch still leaves pairs: (0.5, s1) (0 s1) (0.5 s2) (0 s2) …
jobs_list=()
for s in $seeds; do for a in ${ARMS:-0.5 0}; do jobs_list+=("$a $s"); done; done
running=0
for j in "${jobs_list[@]}"; do
  run_student $j &
  running=$((running + 1))
  if [ "$running" -ge "$lanes" ]; then wait -n || true; running=$((running - 1)); fi
done
wait

python3 - "$runs" "$steps" "$seq" $seeds <<'PY'
import json, os, statistics, sys
runs, steps, seq, seeds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def last_eval(d):
    rows = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl")) if '"eval_accuracy"' in l]
    return rows[0], rows[-1]
def med(values):
    if not values: return "—"
    m = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100*m:.2f} ± {100*sd:.2f} ({100*min(values):.2f}–{100*max(values):.2f}, n {len(values)})"
teacher = os.path.join(runs, "minilm-full-classify")
t0, t = last_eval(teacher)
print(f"\nheld-out rows {t['eval_rows']}; students: {steps} steps × 16 rows, seq {seq}; seeds {' '.join(seeds)}\n")
for name in ("split", "file"):
    p = os.path.join(runs, f"teacher-eval-{name}.json")
    if os.path.exists(p):
        e = json.load(open(p))
        print(f"check: pretrain eval teacher on the {name:5s}: rows {e['rows']}, accuracy {100*e['accuracy']:.2f} %, loss {e['loss']:.4f}")
print("\n| model | layers | held-out accuracy % (mean ± sd, min–max, runs) | macro-F1 (mean) | eval loss (mean) | per seed |")
print("| --- | ---: | --- | ---: | ---: | --- |")
print(f"| teacher (minilm-full-classify, 50 steps) | 6 | {100*t['eval_accuracy']:.2f} (1 run; step 0: {100*t0['eval_accuracy']:.2f}) | {t['eval_macro_f1']:.4f} | {t['eval_loss']:.4f} | |")
for alpha, label in (("0.5", "student, distilled (alpha 0.5, T 2)"), ("0", "student, hard labels only (alpha 0)")):
    acc, f1, loss, per = [], [], [], []
    for s in seeds:
        p = os.path.join(runs, f"student-a{alpha}-s{s}", "eval-heldout.json")
        if not os.path.exists(p): continue
        e = json.load(open(p))
        acc.append(e["accuracy"]); f1.append(e["macro_f1"]); loss.append(e["loss"]); per.append(f"s{s} {100*e['accuracy']:.2f}")
    mean = lambda v: f"{statistics.mean(v):.4f}" if v else "—"
    print(f"| {label} | 3 | {med(acc)} | {mean(f1)} | {mean(loss)} | {', '.join(per)} |")
PY
