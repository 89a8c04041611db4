#!/usr/bin/env bash
# Kill test: SIGKILLs a smoke run at N seeded random moments (checkpoint_every=1, so many land inside checkpoint
# writes), resumes it each time with --resume auto, lets the last try finish, and compares the final weights with an
# uninterrupted run of the same recipe: they must be bitwise equal, and every checkpoint folder left must pass its
# manifest (sha256 of each file). Exit 0 only when both hold.
# Usage: tools/reliability/kill-test.sh [N=20] [SEED=1]
# Env:   PRETRAIN     command that runs the built CLI in this process, e.g. "dotnet src/Pretrain.Cli/bin/Release/net10.0/pretrain.dll"
#                     (default: builds it so; not `dotnet run`, whose wrapper process would survive the kill)
#        KILL_RECIPE  recipe (default recipes/smoke/gpt-tiny-clm.yaml)   KILL_STEPS  train.max_steps (default max(2N, 6))
#        KILL_WORK    work folder (default: a new temp folder, deleted at the end unless KILL_KEEP=1)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
n="${1:-20}"
seed="${2:-1}"
recipe="${KILL_RECIPE:-$root/recipes/smoke/gpt-tiny-clm.yaml}"
steps="${KILL_STEPS:-$(( 2 * n > 6 ? 2 * n : 6 ))}"
work="${KILL_WORK:-$(mktemp -d -t pretrain-kill-XXXXXX)}"
fail() { echo "kill-test: $*" >&2; exit 1; }

if [ -z "${PRETRAIN:-}" ]; then
  dotnet build "$root/src/Pretrain.Cli" -c Release -v q -nologo >/dev/null || fail "build of src/Pretrain.Cli failed"
  PRETRAIN="dotnet $root/src/Pretrain.Cli/bin/Release/net10.0/pretrain.dll"
fi
read -r -a pretrain <<< "$PRETRAIN"
[ "${KILL_KEEP:-0}" = 1 ] || [ -n "${KILL_WORK:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
sets=(--no-export --set "train.max_steps=$steps" --set train.checkpoint_every=1 --set train.log_every=1)

# The final step's weights of a run folder (sha256 of model.safetensors in the folder `latest` names).
final_sha() { sha256sum "$1/checkpoints/$(cat "$1/checkpoints/latest")/model.safetensors" | cut -d' ' -f1; }

# Every complete step folder must match its manifest.json; prints the number of folders checked.
verify_all() {
  local run="$1" checked=0 dir name sha
  for dir in "$run"/checkpoints/step-*; do
    case "$dir" in *.tmp) continue ;; esac
    [ -d "$dir" ] || continue
    [ -f "$dir/manifest.json" ] || fail "$dir has no manifest.json"
    # manifest.json: "files": { "NAME": { "sha256": "HEX", ... }, ... } (one key per line)
    while read -r name sha; do
      [ "$(sha256sum "$dir/$name" | cut -d' ' -f1)" = "$sha" ] || fail "$dir/$name does not match its manifest"
    done < <(grep -oE '"[^"]+": \{|"sha256": "[0-9a-f]+"' "$dir/manifest.json" |
             awk -F'"' '/sha256/ { print name, $4; next } { name = $2 }')
    checked=$((checked + 1))
  done
  echo "$checked"
}

# 1. The uninterrupted reference run (its wall time bounds the random kill moments).
start=$(date +%s%N)
"${pretrain[@]}" run "$recipe" --run-dir "$work/ref" "${sets[@]}" >"$work/ref.log" 2>&1 || fail "reference run failed; see $work/ref.log"
span_ms=$(( ($(date +%s%N) - start) / 1000000 ))
want=$(final_sha "$work/ref")

# 2. N tries, each SIGKILLed at a seeded random moment and resumed by the next. Each try draws one of:
#    start-up   0.1-2 s after launch (recipe, resume, data and model building);
#    write      the moment a checkpoint folder (step-N.tmp) appears: inside a checkpoint write;
#    training   after the try's first checkpoint, 0-2 step times later (step time: reference wall time / steps).
RANDOM=$seed
step_ms=$(( span_ms / steps ))
landed=0 in_write=0 finished=0
touch "$work/killed.log"
tmp_names() { ls -a "$work/killed/checkpoints" 2>/dev/null | grep '\.tmp$' || true; }
tmp_exists() { [ -n "$(tmp_names)" ]; }
# Whether a .tmp name appeared that was not there before this try (an earlier kill's leftover does not count).
new_tmp() { [ -n "$(comm -13 <(echo "$1") <(tmp_names))" ]; }
for ((i = 1; i <= n; i++)); do
  before=$(grep -c '^checkpoint ' "$work/killed.log" || true)
  stale=$(tmp_names)
  "${pretrain[@]}" run "$recipe" --run-dir "$work/killed" --resume auto "${sets[@]}" >>"$work/killed.log" 2>&1 &
  pid=$!
  case $(( RANDOM % 4 )) in
    0) delay_ms=$(( 100 + RANDOM % 1900 )); where="start-up" ;;
    1) while kill -0 "$pid" 2>/dev/null && ! new_tmp "$stale"; do :; done   # busy-wait: a write lasts milliseconds
       delay_ms=0; where="a checkpoint write" ;;
    *) while kill -0 "$pid" 2>/dev/null && [ "$(grep -c '^checkpoint ' "$work/killed.log" || true)" = "$before" ]; do sleep 0.02; done
       delay_ms=$(( (RANDOM * 32768 + RANDOM) % (2 * step_ms + 1) )); where="training" ;;
  esac
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  if kill -9 "$pid" 2>/dev/null; then
    landed=$((landed + 1))
    # A step folder still named .tmp (or latest.tmp) after the kill: it hit a checkpoint write.
    if new_tmp "$stale"; then in_write=$((in_write + 1)); where="$where (.tmp left: inside the write)"; fi
  else
    finished=$((finished + 1)); where="$where, after the run had finished"
  fi
  wait "$pid" 2>/dev/null || true
  echo "kill $i/$n ${delay_ms} ms into $where: latest $(cat "$work/killed/checkpoints/latest" 2>/dev/null || echo none)"
done

# 3. The last try runs to the end; then compare and check every checkpoint left.
"${pretrain[@]}" run "$recipe" --run-dir "$work/killed" --resume auto "${sets[@]}" >>"$work/killed.log" 2>&1 \
  || fail "the final resume failed; see $work/killed.log"
got=$(final_sha "$work/killed")
checked=$(verify_all "$work/killed")
[ "$(cat "$work/killed/checkpoints/latest")" = "$(cat "$work/ref/checkpoints/latest")" ] || fail "final step differs: $(cat "$work/killed/checkpoints/latest")"
echo "kill-test: $landed/$n kills landed in a running process ($in_write inside a checkpoint write, $finished after it had finished);" \
     "final weights $([ "$got" = "$want" ] && echo bitwise equal || echo DIFFERENT) ($got); $checked checkpoint folder(s) pass their manifest"
[ "$got" = "$want" ] || fail "final weights differ from the uninterrupted run ($got vs $want)"
