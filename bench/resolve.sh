#!/usr/bin/env bash
# Resolve stage: wall time and peak memory of the whole `imgbuild lock` process for the default recipe
# (Debian bullseye main + updates + security from the host's mirror), cold (empty cache: index and
# package-list downloads, signature checks, parsing) and warm (.solv caches, indices revalidated with
# conditional requests). Targets (issue 3): warm < 200 ms, cold < 3 s.
# Usage: bench/resolve.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bin=$(imgbuild_bin "${1:-}")
recipe=recipes/debian12-node.yaml
require_tools hyperfine
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

hyperfine --runs 10 --prepare "rm -rf $work/cold" --export-markdown "$work/cold.md" \
  -n "lock, cold cache" "$bin -q --cache-dir $work/cold lock $recipe -o $work/cold.lock.json" >/dev/null
"$bin" -q --cache-dir "$work/warm" lock "$recipe" -o "$work/warm.lock.json" >/dev/null
hyperfine --warmup 2 --runs 30 --export-markdown "$work/warm.md" \
  -n "lock, warm cache" "$bin -q --cache-dir $work/warm lock $recipe -o $work/warm.lock.json" >/dev/null
cat "$work/cold.md"; tail -n +3 "$work/warm.md"

for mode in cold warm; do
  [[ $mode == cold ]] && rm -rf "$work/cold"
  rss=$(/usr/bin/time -f %M "$bin" -q --cache-dir "$work/$mode" lock "$recipe" -o "$work/x.json" 2>&1 >/dev/null | tail -1)
  echo "peak RSS, $mode: $((rss / 1024)) MiB"
done
echo "packages: $(grep -c '"name"' "$work/warm.lock.json") names in the lock (packages + repos)"
"$bin" -v --cache-dir "$work/warm" lock "$recipe" -o "$work/x.json" 2>&1 >/dev/null | grep -E ': [0-9.]+ ms$' | sed 's/^imgbuild: debug: /warm: /'
