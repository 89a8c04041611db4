// Hugging Face's side of tools/bench/tokenizer.sh: npm `tokenizers` (the Rust library's Node bindings) encodes every
// line of TEXT with encodeBatch (no special tokens), REPEATS times after one untimed warm-up pass, and prints
// "NAME TOKENS MEDIAN_SECONDS". One thread: the script sets RAYON_NUM_THREADS=1 (and TOKENIZERS_PARALLELISM=false).
// Usage: node tokenizer_hf.cjs NODE_MODULES NAME TOKENIZER_JSON TEXT REPEATS
'use strict';
const fs = require('fs');
const path = require('path');
const [modules, name, file, textFile, repeatsArg] = process.argv.slice(2);
const { Tokenizer } = require(path.join(modules, 'tokenizers'));

async function main() {
  const lines = fs.readFileSync(textFile, 'utf8').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const tok = Tokenizer.fromFile(file);
  const count = async () => (await tok.encodeBatch(lines, { addSpecialTokens: false })).reduce((n, e) => n + e.getIds().length, 0);
  const tokens = await count(); // warm-up
  const seconds = [];
  for (let r = 0; r < Number(repeatsArg); r++) {
    const start = process.hrtime.bigint();
    const n = await count();
    seconds.push(Number(process.hrtime.bigint() - start) / 1e9);
    if (n !== tokens) throw new Error(`pass ${r} gave ${n} tokens, the warm-up ${tokens}`);
  }
  seconds.sort((a, b) => a - b);
  console.log(`${name} ${tokens} ${seconds[Math.floor(seconds.length / 2)].toFixed(4)}`);
}

main().catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
