#!/usr/bin/env bash
# Issue 14's int8 figures for trained checkpoints: for each CHECKPOINT given, `pretrain export` twice (float, and
# `--quantize int8` with its agreement check, plus --eval-data when EVAL_DATA_<n> is set), then `pretrain bench-onnx`
# of the two at batch 1×SEQ and BATCH×SEQ, and a table: file sizes and ratio, top-1 agreement, accuracy on the eval
# rows (float, int8, delta in points), latency medians and the int8 speedup. Also prints the CPU model and its SIMD flags.
# Usage: tools/experiments/int8.sh NAME=CHECKPOINT[@EVAL_GLOB] ...
#   e.g. tools/experiments/int8.sh minilm=runs/experiments/minilm-full-classify@.cache/data/spam-assassin-heldout/*.parquet
# Env: PRETRAIN (command running the CLI; default `dotnet run -c Release --project src/Pretrain.Cli --`),
#      OUT (exports and logs; default runs/experiments/int8), SEQ (128), BATCH (32), THREADS (2),
#      RUNS1 / WARMUP1 (bench runs at batch 1; 20 / 5), RUNSB / WARMUPB (at BATCH; 10 / 2), MIN_AGREEMENT (0.99).
set -euo pipefail
cd "$(dirname "$0")/../.."
read -r -a pretrain <<< "${PRETRAIN:-dotnet run -c Release --project src/Pretrain.Cli --}"
out="${OUT:-runs/experiments/int8}"
seq="${SEQ:-128}"; batch="${BATCH:-32}"; threads="${THREADS:-2}"
[ $# -gt 0 ] || { echo "usage: tools/experiments/int8.sh NAME=CHECKPOINT[@EVAL_GLOB] ..." >&2; exit 2; }
mkdir -p "$out"
echo "int8: $(date -u +%FT%TZ); CPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores;" \
  "SIMD: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|avx2|avx512[a-z_]*|avx_vnni|fma|f16c|amx[a-z_]*)$' | tr '\n' ' ')"
for spec in "$@"; do
  name="${spec%%=*}"; rest="${spec#*=}"
  ckpt="${rest%%@*}"; eval_glob=""; [ "$rest" != "$ckpt" ] && eval_glob="${rest#*@}"
  f32="$out/$name-fp32"; i8="$out/$name-int8"
  echo "int8: $name: export $ckpt (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  [ -f "$f32/model.onnx" ] || "${pretrain[@]}" export "$ckpt" --out "$f32" --overwrite > "$out/$name-export-fp32.log" 2>&1 \
    || { echo "int8: $name: float export failed; see $out/$name-export-fp32.log" >&2; continue; }
  args=(export "$ckpt" --out "$i8" --overwrite --quantize int8 --min-agreement "${MIN_AGREEMENT:-0.99}")
  [ -n "$eval_glob" ] && args+=(--eval-data "$eval_glob")
  [ -f "$i8/model.onnx" ] || "${pretrain[@]}" "${args[@]}" > "$out/$name-export-int8.log" 2>&1 \
    || { echo "int8: $name: int8 export failed; see $out/$name-export-int8.log" >&2; continue; }
  echo "int8: $name: bench 1×$seq and $batch×$seq (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  "${pretrain[@]}" bench-onnx "$f32" "$i8" --batch 1 --seq "$seq" --threads "$threads" \
    --warmup "${WARMUP1:-5}" --runs "${RUNS1:-20}" --json > "$out/$name-bench-1.json"
  "${pretrain[@]}" bench-onnx "$f32" "$i8" --batch "$batch" --seq "$seq" --threads "$threads" \
    --warmup "${WARMUPB:-2}" --runs "${RUNSB:-10}" --json > "$out/$name-bench-$batch.json"
done
echo "int8: done $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" "$batch" "$seq" "$@" <<'PY'
import json, os, sys
out, batch, seq, specs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def bench(path):
    if not os.path.exists(path): return None
    text = open(path).read()
    rows = json.loads(text[text.index('['):])
    return rows
print(f"\nlatency: median and min of the timed runs, fp32 / int8 ms (int8 speedup); the min is the least disturbed run on a shared CPU\n")
print(f"| model | fp32 MB | int8 MB | size ratio | top-1 agreement (rows) | eval acc fp32 / int8 % (Δ points, rows) | 1×{seq} ms fp32 / int8 (speedup) | {batch}×{seq} ms fp32 / int8 (speedup) |")
print("| --- | ---: | ---: | ---: | --- | --- | --- | --- |")
for spec in specs:
    name = spec.split("=", 1)[0]
    vpath = os.path.join(out, f"{name}-int8", "validation.json")
    if not os.path.exists(vpath):
        print(f"| {name} | export failed | | | | | | |"); continue
    q = json.load(open(vpath))["quantization"]
    f32mb, i8mb = q["float_bytes"] / 1e6, q["int8_bytes"] / 1e6
    acc = "—"
    e = q.get("eval_data")
    if e:
        acc = f"{100*e['float_accuracy']:.2f} / {100*e['int8_accuracy']:.2f} ({100*(e['int8_accuracy']-e['float_accuracy']):+.2f}, {e['rows']} rows, {e['targets']} targets)"
    line = [name, f"{f32mb:.2f}", f"{i8mb:.2f}", f"{i8mb/f32mb:.3f}", f"{100*q['agreement']:.2f} % ({q['compared']}, {q['metric']})", acc]
    for b in ("1", batch):
        rows = bench(os.path.join(out, f"{name}-bench-{b}.json"))
        if rows:
            f, q8 = rows[0], rows[1]
            line.append(f"median {f['median_ms']:.1f} / {q8['median_ms']:.1f} ({f['median_ms']/q8['median_ms']:.2f}×); "
                        f"min {f['min_ms']:.1f} / {q8['min_ms']:.1f} ({f['min_ms']/q8['min_ms']:.2f}×)")
        else:
            line.append("—")
    print("| " + " | ".join(line) + " |")
PY
