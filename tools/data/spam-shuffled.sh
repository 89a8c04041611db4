#!/usr/bin/env bash
# Writes a row-shuffled copy of SpamAssassin with small row groups, for classification fine-tuning:
# .cache/data/spam-assassin-shuffled/*.parquet (text, label, group, id; 64 rows per row group, seeded Fisher-Yates).
# Why: tools/data/text-corpora.sh writes the rows sorted by group in 1,000-row row groups, and the stream shuffles row
# groups then rows within a group, so consecutive micro-batches come from one row group (all ham or all spam).
# Usage: tools/data/spam-shuffled.sh   (after tools/data/text-corpora.sh; idempotent)
# Env: PRETRAIN (command to run the CLI; default `dotnet run --project src/Pretrain.Cli --`).
set -euo pipefail
cd "$(dirname "$0")/../.."
jsonl=.cache/data/jsonl/spam-assassin.jsonl
out=.cache/data/spam-assassin-shuffled
[ -f "$jsonl" ] || { echo "spam-shuffled: error: $jsonl is missing; run tools/data/text-corpora.sh first" >&2; exit 1; }
if [ -f "$out/.prepared" ]; then echo "spam-shuffled: $out already prepared"; exit 0; fi
node - "$jsonl" "$jsonl.shuffled" <<'JS'
const fs = require('fs');
const [src, dst] = process.argv.slice(2);
const rows = fs.readFileSync(src, 'utf8').split('\n').filter(l => l.length > 0);
let s = 1337n;                                   // 64-bit LCG (Knuth MMIX), seed 1337
const next = n => { s = (s * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n); return Number((s >> 33n) % BigInt(n)); };
for (let i = rows.length - 1; i > 0; i--) { const j = next(i + 1); [rows[i], rows[j]] = [rows[j], rows[i]]; }
fs.writeFileSync(dst, rows.join('\n') + '\n');
JS
read -r -a pretrain <<< "${PRETRAIN:-dotnet run --project src/Pretrain.Cli --}"
rm -rf "$out"
"${pretrain[@]}" data prepare jsonl "$jsonl.shuffled" --out "$out" --fields label,group,id --rows-per-group 64
rm -f "$jsonl.shuffled"
touch "$out/.prepared"
echo "spam-shuffled: wrote $out"
