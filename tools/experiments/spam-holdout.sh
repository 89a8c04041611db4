#!/usr/bin/env bash
# Writes the SpamAssassin rows that a run of recipes/finetune/minilm-*-classify.yaml holds out (data.eval.fraction
# 0.1, train.seed 1337) as their own Parquet file, so `pretrain export --eval-data` and `pretrain eval` can score
# exactly those rows: .cache/data/spam-assassin-heldout/part-00000.parquet (text, label, group, id), and the other
# rows (the ones such a run trains on, in the same shuffled order) as .cache/data/spam-assassin-train/, so runs with
# other train.seed values (which would move a fraction split) train on the same rows and are scored on the same ones.
# How: redo tools/data/spam-shuffled.sh's seeded shuffle (same LCG, seed 1337) of .cache/data/jsonl/spam-assassin.jsonl;
# row i of the shuffled file is row i % 64 of row group i / 64 of spam-assassin-shuffled/part-00000.parquet, and it is
# held out when HoldoutSplit says so: ToUnit(Combine(seed, FileKey("part-00000.parquet"), rowGroup, row)) < fraction
# (src/Pretrain.Data/Sampling/StableHash.cs, re-implemented here with BigInt).
# Check: `pretrain eval RUN --data this file` must equal `pretrain eval RUN --data shuffled --holdout 0.1 --seed 1337`
# (tools/experiments/minilm-distill.sh prints both).
# Usage: tools/experiments/spam-holdout.sh   (after tools/data/text-corpora.sh and tools/data/spam-shuffled.sh)
# Env: PRETRAIN (command to run the CLI; default `dotnet run --project src/Pretrain.Cli --`), FRACTION (0.1), SEED (1337).
set -euo pipefail
cd "$(dirname "$0")/../.."
jsonl=.cache/data/jsonl/spam-assassin.jsonl
shuffled=.cache/data/spam-assassin-shuffled/part-00000.parquet
out=.cache/data/spam-assassin-heldout
train=.cache/data/spam-assassin-train
[ -f "$jsonl" ] && [ -f "$shuffled" ] || { echo "spam-holdout: error: run tools/data/text-corpora.sh and tools/data/spam-shuffled.sh first" >&2; exit 1; }
if [ -f "$out/.prepared" ] && [ -f "$train/.prepared" ]; then echo "spam-holdout: $out already prepared"; exit 0; fi
tmp=.cache/data/jsonl/spam-assassin.heldout.jsonl
tmptrain=.cache/data/jsonl/spam-assassin.train.jsonl
node - "$jsonl" "$tmp" "$tmptrain" "${FRACTION:-0.1}" "${SEED:-1337}" "$(basename "$shuffled")" <<'JS'
const fs = require('fs');
const [src, dst, dstTrain, fraction, seed, fileName] = process.argv.slice(2);
const M = (1n << 64n) - 1n;
const rows = fs.readFileSync(src, 'utf8').split('\n').filter(l => l.length > 0);
let s = 1337n;                                   // tools/data/spam-shuffled.sh's shuffle, exactly
const next = n => { s = (s * 6364136223846793005n + 1442695040888963407n) & M; return Number((s >> 33n) % BigInt(n)); };
for (let i = rows.length - 1; i > 0; i--) { const j = next(i + 1); [rows[i], rows[j]] = [rows[j], rows[i]]; }
const mix = x => {                               // StableHash.Mix (SplitMix64 finalizer)
  x = ((x ^ (x >> 30n)) * 0xBF58476D1CE4E5B9n) & M;
  x = ((x ^ (x >> 27n)) * 0x94D049BB133111EBn) & M;
  return x ^ (x >> 31n);
};
const golden = 0x9E3779B97F4A7C15n;
const combine = vs => vs.reduce((h, v) => mix(h ^ mix((v + golden) & M)), 0x243F6A8885A308D3n);
let h = 0xCBF29CE484222325n;                     // StableHash.OfString: FNV-1a over UTF-8, then Mix
for (const b of Buffer.from(fileName, 'utf8')) h = ((h ^ BigInt(b)) * 0x100000001B3n) & M;
const fileKey = mix(h);
const toUnit = x => Number(x >> 11n) / 2 ** 53;
const isHeld = rows.map((_, i) => toUnit(combine([BigInt(Number(seed) >>> 0), fileKey, BigInt(Math.floor(i / 64)), BigInt(i % 64)])) < Number(fraction));
const held = rows.filter((_, i) => isHeld[i]);
fs.writeFileSync(dst, held.join('\n') + '\n');
fs.writeFileSync(dstTrain, rows.filter((_, i) => !isHeld[i]).join('\n') + '\n');
const spam = held.filter(r => JSON.parse(r).label === 1).length;
console.log(`spam-holdout: ${held.length} of ${rows.length} rows held out (${held.length - spam} ham, ${spam} spam)`);
JS
read -r -a pretrain <<< "${PRETRAIN:-dotnet run --project src/Pretrain.Cli --}"
rm -rf "$out" "$train"
"${pretrain[@]}" data prepare jsonl "$tmp" --out "$out" --fields label,group,id --rows-per-group 64
"${pretrain[@]}" data prepare jsonl "$tmptrain" --out "$train" --fields label,group,id --rows-per-group 64
rm -f "$tmp" "$tmptrain"
touch "$out/.prepared" "$train/.prepared"
echo "spam-holdout: wrote $out and $train"
