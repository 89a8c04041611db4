#!/usr/bin/env bash
# GPU check, run on the device machine from the repository root (no .NET there: it unpacks the bundle that
# tools/gpu/bundle.sh built; libtorch with CUDA comes from that machine's PyTorch through LD_LIBRARY_PATH).
#
# Usage: OUT=DIR tools/gpu/check.sh PHASE...      phases run in the order given:
#   env      GPU, driver, unresolved libtorch symbols of libLibTorchSharp.so (ldd -r), `pretrain info`
#   smoke    every recipes/smoke/*.yaml on cuda (inits first), one line each
#   vision   MAE and SimCLR on Fashion-MNIST side by side on the GPU: a 25-step calibration run each measures
#            steps/s, then the recipe runs for VISION_BUDGET_S seconds' worth of steps (default 150) with its
#            probes at step 0 (random weights) and at the end; run folders are copied to $OUT/runs
#   finetune the Fashion-MNIST classification recipes (recipes/finetune/vit-*-classify.yaml) side by side, as
#            written (same step count); their init runs (runs/vit-fmnist-*) must be carried along
#   text     recipes/pretrain/bert-small-mlm.yaml for TEXT_BUDGET_S seconds' worth of steps (calibrated as above),
#            (at most the recipe's 5000), text-small-simcse.yaml as written (SIMCSE_GUARD_S wall guard), and linear/k-NN
#            probes on SpamAssassin of the random-init, MLM and SimCSE encoders (`pretrain eval --probe`)
#   sft      recipes/pretrain/gpt-small-clm.yaml briefly on Moby Dick + SOTU (SFT_BASE_S seconds' worth of steps),
#            then recipes/finetune/gpt-lora-sft.yaml from it (SFT_GUARD_S wall guard)
#   nccl     the NCCL backend at world size 1 through the real NCCL calls (the bundle's Pretrain.Distributed.Probe):
#            all-reduce/broadcast/all-gather results checked, ncclCommAbort, a 256 MB all-reduce timed. One card
#            cannot show cross-rank sums, NCCL transports, or the MPI bootstrap (those run on CPU with mpirun).
# Prints a table last (also $OUT/table.md); logs, metrics and checkpoints are in $OUT/results.tgz.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# The device tool returns only a few files from $OUT, so everything is gathered in a scratch folder and handed back
# as $OUT/table.md plus one $OUT/results.tgz (logs, metrics, summaries, small checkpoints).
final="${OUT:-$root/.cache/gpu/out}"
out="$(mktemp -d)"
mkdir -p "$final" "$out/logs" "$out/runs"
# The machine's PyTorch: PYTHON (default: python3 on PATH) imports torch; TORCH_LIB (default: that torch's lib folder)
# holds libtorch, libtorch_cuda and friends.
py="${PYTHON:-$(command -v python3)}"
torchlib="${TORCH_LIB:-$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)}"
[ -d "$torchlib" ] || { echo "error: no PyTorch lib folder found; set TORCH_LIB (and PYTHON) to the machine's PyTorch" >&2; exit 1; }
bin="$(mktemp -d)"
tar -xJf "$root/.cache/gpu/pretrain-linux-x64.tar.xz" -C "$bin" || { echo "error: no bundle; run tools/gpu/bundle.sh" >&2; exit 1; }
export LD_LIBRARY_PATH="$torchlib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export DOTNET_gcServer=0
P="$bin/pretrain/pretrain"
device="${DEVICE:-cuda}"   # DEVICE=cpu dry-runs the script logic on a machine without a GPU
table="$out/table.md"
echo "| phase | item | status | seconds | result |" > "$table"
echo "|---|---|---|---|---|" >> "$table"
row() { echo "| $1 | $2 | $3 | $4 | $5 |" >> "$table"; }

# last eval row of a run's metrics.jsonl, the keys named (or all eval_ keys)
evals() {
  "$py" - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ev = [r for r in rows if any(k.startswith("eval_") for k in r)]
def fmt(r): return " ".join(f"{k[5:]}={v:.4g}" for k, v in r.items() if k.startswith("eval_") and isinstance(v, (int, float)) and k not in ("eval_tokens",) and not k.startswith("eval_confusion"))
out = []
if ev: out.append(f"step {ev[0]['step']}: " + fmt(ev[0]))
if len(ev) > 1: out.append(f"step {ev[-1]['step']}: " + fmt(ev[-1]))
print(" → ".join(out) if out else "no eval rows")
PY
}

# steps per second from the train rows of metrics.jsonl (median of windows after the first)
steps_per_s() {
  "$py" - "$1" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
tr = [r for r in rows if "tokens_per_s" in r and r["step"] > 1]
rates = [r["tokens_per_s"] * r["step"] / r["tokens"] for r in tr]
print(f"{statistics.median(rates):.3f}" if rates else "0")
PY
}

run_recipe() { # phase name recipe [--set ...]; GUARD_S=N stops the run by SIGTERM after N s (step finished, checkpoint)
  local phase="$1" name="$2" recipe="$3"; shift 3
  local t0=$SECONDS guard=()
  [ -n "${GUARD_S:-}" ] && guard=(timeout --preserve-status -s TERM "$GUARD_S")
  rm -rf "runs/$name"
  if "${guard[@]}" "$P" run "$recipe" --run-dir "runs/$name" --no-export --set train.device=$device "$@" > "$out/logs/$name.log" 2>&1; then
    local status=ok
    grep -q "SIGTERM" "$out/logs/$name.log" && status="STOPPED at ${GUARD_S}s ($(grep -m1 '^done:' "$out/logs/$name.log" | cut -d';' -f1))"
    row "$phase" "$name" "$status" $((SECONDS - t0)) "$(evals "runs/$name/metrics.jsonl")"
    mkdir -p "$out/runs/$name"
    cp "runs/$name"/{metrics.jsonl,summary.json,recipe.yaml} "$out/runs/$name/" 2>/dev/null
    return 0
  else
    row "$phase" "$name" FAIL $((SECONDS - t0)) "$(grep -m1 -i 'error' "$out/logs/$name.log" | cut -c1-200)"
    mkdir -p "$out/runs/$name"
    cp "runs/$name"/{metrics.jsonl,summary.json,recipe.yaml} "$out/runs/$name/" 2>/dev/null
    return 1
  fi
}

keep_checkpoint() { # copy a run's latest checkpoint folder into $OUT (small models only)
  local name="$1" latest
  latest="$(cat "runs/$name/checkpoints/latest" 2>/dev/null)" || return 0
  mkdir -p "$out/runs/$name/checkpoints"
  cp -r "runs/$name/checkpoints/$latest" "$out/runs/$name/checkpoints/" && echo "$latest" > "$out/runs/$name/checkpoints/latest"
}

phase_env() {
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$out/gpu.txt" 2>&1
  row env gpu ok 0 "$(head -1 "$out/gpu.txt")"
  row env torch-lib ok 0 "$torchlib ($("$py" -c 'import torch;print(torch.__version__, torch.version.cuda)' 2>/dev/null))"
  ldd -r "$bin/pretrain/libLibTorchSharp.so" > "$out/ldd.txt" 2>&1
  local missing; missing=$(grep -c "undefined symbol" "$out/ldd.txt")
  row env "ldd -r libLibTorchSharp.so" "$([ "$missing" = 0 ] && echo ok || echo WARN)" 0 "$missing unresolved symbols (list: ldd.txt)"
  grep "undefined symbol" "$out/ldd.txt" | sed 's/undefined symbol: //' | cut -d'(' -f1 | c++filt > "$out/missing-symbols.txt" 2>/dev/null
  local t0=$SECONDS
  if "$P" info > "$out/logs/info.log" 2>&1; then row env "pretrain info" ok $((SECONDS - t0)) "$(grep -E 'libtorch|cuda' "$out/logs/info.log" | tr '\n' ' ' | tr -s ' ')"
  else row env "pretrain info" FAIL $((SECONDS - t0)) "$(tail -2 "$out/logs/info.log" | tr '\n' ' ' | cut -c1-200)"; fi
}

phase_smoke() {
  local done_names=" " r n
  # recipes whose init names another smoke run go after it
  for pass in 1 2; do
    for r in recipes/smoke/*.yaml; do
      n="$(basename "$r" .yaml)"
      case "$done_names" in *" $n "*) continue;; esac
      if grep -q "init:" "$r"; then
        local dep; dep="$(grep -oE 'runs/[A-Za-z0-9_.-]+' "$r" | head -1 | cut -d/ -f2)"
        [ -d "runs/$dep/checkpoints" ] || { [ $pass = 1 ] && continue; }
      fi
      run_recipe smoke "$n" "$r"
      done_names+="$n "
    done
  done
}

calibrated_steps() { # name recipe budget_s batch-overrides... → prints steps
  local name="$1" recipe="$2" budget="$3"; shift 3
  "$P" run "$recipe" --run-dir "runs/$name-calib" --no-export --set train.device=$device --set train.max_steps=25 --set train.log_every=5 \
    --set train.eval_every=1000 --set train.checkpoint_every=1000 "$@" > "$out/logs/$name-calib.log" 2>&1 || { echo 0; return; }
  local sps; sps="$(steps_per_s "runs/$name-calib/metrics.jsonl")"
  "$py" -c "print(min(${CAP:-10**9}, max(25, int($budget * $sps))))"
}

phase_vision() {
  local budget="${VISION_BUDGET_S:-150}" t0=$SECONDS
  local mae_steps simclr_steps
  mae_steps=$(calibrated_steps vit-fmnist-mae recipes/pretrain/vit-fmnist-mae.yaml "$budget" --set train.threads=4)
  simclr_steps=$(calibrated_steps vit-fmnist-simclr recipes/pretrain/vit-fmnist-simclr.yaml "$budget" --set train.threads=4)
  row vision calibration ok $((SECONDS - t0)) "MAE $mae_steps steps, SimCLR $simclr_steps steps for ${budget}s each (alone; run side by side below)"
  [ "$mae_steps" = 0 ] && row vision vit-fmnist-mae FAIL 0 "$(grep -m1 -i error "$out/logs/vit-fmnist-mae-calib.log" | cut -c1-200)"
  [ "$simclr_steps" = 0 ] && row vision vit-fmnist-simclr FAIL 0 "$(grep -m1 -i error "$out/logs/vit-fmnist-simclr-calib.log" | cut -c1-200)"
  # side by side: small models are launch-bound (CPU side), so two processes share the GPU well; 3/4 of the
  # calibrated steps keeps the wall time near the budget
  [ "$mae_steps" != 0 ] && (run_recipe vision vit-fmnist-mae recipes/pretrain/vit-fmnist-mae.yaml --set train.threads=6 \
      --set train.max_steps=$((mae_steps * 3 / 4)) --set train.eval_every=$((mae_steps * 3 / 4)) --set train.checkpoint_every=$((mae_steps * 3 / 4)) \
      --set train.log_every=50 && keep_checkpoint vit-fmnist-mae) &
  [ "$simclr_steps" != 0 ] && (run_recipe vision vit-fmnist-simclr recipes/pretrain/vit-fmnist-simclr.yaml --set train.threads=6 \
      --set train.max_steps=$((simclr_steps * 3 / 4)) --set train.eval_every=$((simclr_steps * 3 / 4)) --set train.checkpoint_every=$((simclr_steps * 3 / 4)) \
      --set train.log_every=50 && keep_checkpoint vit-fmnist-simclr) &
  wait
}

budget_run() { # phase name recipe budget_s sets... : calibrate alone, then run budget_s worth of steps
  local phase="$1" name="$2" recipe="$3" budget="$4"; shift 4
  local steps; steps=$(calibrated_steps "$name" "$recipe" "$budget" "$@")
  if [ "$steps" = 0 ]; then row "$phase" "$name" FAIL 0 "calibration: $(grep -m1 -i error "$out/logs/$name-calib.log" | cut -c1-200)"; return 1; fi
  run_recipe "$phase" "$name" "$recipe" "$@" --set train.max_steps="$steps" --set train.eval_every="$steps" \
    --set train.checkpoint_every="$steps" --set train.log_every=50
}

phase_finetune() { # Fashion-MNIST classifiers side by side; the recipes fix the step count (same for all three)
  local r n
  for r in recipes/finetune/vit-*-classify.yaml; do
    n="$(basename "$r" .yaml)"
    (GUARD_S="${FINETUNE_GUARD_S:-150}" run_recipe finetune "$n" "$r" --set train.threads=5) &
  done
  wait
}

probe() { # phase name checkpoint: linear + k-NN probe of frozen features on SpamAssassin (shuffled copy, 10% held out)
  local phase="$1" name="$2" ckpt="$3" t0=$SECONDS
  if "$P" eval "$ckpt" --data '.cache/data/spam-assassin-shuffled/*.parquet' --holdout 0.1 --probe both --pooling mean \
      --seq-len 128 --device "$device" --out "$out/probe-$name.json" > "$out/logs/probe-$name.log" 2>&1; then
    row "$phase" "probe $name" ok $((SECONDS - t0)) "$("$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(' '.join(f'{k}={v:.4f}' for k, v in d.items() if k.endswith('accuracy')), d['features'])" "$out/probe-$name.json")"
  else
    row "$phase" "probe $name" FAIL $((SECONDS - t0)) "$(grep -m1 -i error "$out/logs/probe-$name.log" | cut -c1-200)"
  fi
}

phase_text() { # MLM on Moby Dick + SOTU for TEXT_BUDGET_S (calibrated, capped at the recipe's 5000 steps), SimCSE from
  # it as written (guarded), and probes of the random-init, MLM and SimCSE encoders on SpamAssassin
  local budget="${TEXT_BUDGET_S:-120}"
  CAP=5000 budget_run text bert-small-mlm recipes/pretrain/bert-small-mlm.yaml "$budget" --set train.threads=8
  # "random": one step at the first warm-up learning rate (5e-4 / 300) — the encoder as initialised, as a checkpoint
  run_recipe text bert-small-random recipes/pretrain/bert-small-mlm.yaml --set train.max_steps=1 \
    --set train.eval_every=1 --set train.checkpoint_every=1 --set train.threads=8
  [ -d runs/bert-small-mlm/checkpoints ] &&
    GUARD_S="${SIMCSE_GUARD_S:-60}" run_recipe text text-small-simcse recipes/pretrain/text-small-simcse.yaml --set train.threads=8
  local n; for n in bert-small-random bert-small-mlm text-small-simcse; do
    [ -d "runs/$n/checkpoints" ] && probe text "$n" "runs/$n"
  done
}

phase_sft() { # our GPT-2-small shape briefly pretrained on Moby Dick + SOTU (calibrated to SFT_BASE_S), then the LoRA SFT
  # recipe as written from it (guarded)
  CAP=19073 budget_run sft gpt-small-clm recipes/pretrain/gpt-small-clm.yaml "${SFT_BASE_S:-80}" \
    --set 'data.train.files=[.cache/data/moby-dick/*.parquet, .cache/data/sotu/*.parquet]' --set train.grad_accum_steps=1 \
    --set train.micro_batch_size=16 --set schedule.warmup_steps=50 --set train.threads=8 --set train.keep_best=0 \
    --set data.eval.fraction=0.05 --set data.eval.max_batches=10
  [ -d runs/gpt-small-clm/checkpoints ] &&
    GUARD_S="${SFT_GUARD_S:-70}" run_recipe sft gpt-lora-sft recipes/finetune/gpt-lora-sft.yaml --set train.threads=8
}

phase_nccl() {
  local t0=$SECONDS so
  # NCCL ships inside the PyTorch install (the nvidia-nccl wheel), found through libtorch_cuda's RPATH once CUDA
  # starts; its folder also goes on LD_LIBRARY_PATH in case the probe's dlopen comes first.
  so="$(find "$torchlib/../.." -maxdepth 5 -name 'libnccl.so.2' 2>/dev/null | head -1)"
  [ -n "$so" ] && export LD_LIBRARY_PATH="$(dirname "$so"):$LD_LIBRARY_PATH"
  if [ ! -x "$bin/pretrain/Pretrain.Distributed.Probe" ]; then
    row nccl "world size 1" FAIL 0 "the bundle has no Pretrain.Distributed.Probe: rebuild it with tools/gpu/bundle.sh"; return 1
  fi
  if timeout 300 "$bin/pretrain/Pretrain.Distributed.Probe" nccl > "$out/logs/nccl.log" 2>&1; then
    row nccl "world size 1" ok $((SECONDS - t0)) "$(grep '^nccl' "$out/logs/nccl.log" | sed 's/^nccl //' | paste -sd ';' | cut -c1-400)"
  else
    row nccl "world size 1" FAIL $((SECONDS - t0)) "$( (grep -m3 -E 'MISMATCH|rror' "$out/logs/nccl.log" || tail -2 "$out/logs/nccl.log") | tr '\n' ' ' | cut -c1-300)"
  fi
}

hand_back() { cp "$table" "$final/table.md"; tar -czf "$final/results.tgz" -C "$out" .; }

for phase in "$@"; do
  case "$phase" in
    env) phase_env ;;
    smoke) phase_smoke ;;
    vision) phase_vision ;;
    finetune) phase_finetune ;;
    text) phase_text ;;
    sft) phase_sft ;;
    nccl) phase_nccl ;;
    *) echo "error: unknown phase '$phase' (env, smoke, vision, finetune, text, sft, nccl)" >&2; exit 2 ;;
  esac
  hand_back
done
cat "$table"
