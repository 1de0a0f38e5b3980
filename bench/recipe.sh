#!/usr/bin/env bash
# Recipe stage cost: the wall time of `imgbuild validate` and `imgbuild show` on the default recipe
# (every imgbuild command pays it; issue 8's no-op rebuild budget is 2 s for the whole process), and
# peak memory. Usage: bench/recipe.sh [BUILD_DIR]. Figures go to docs/benchmarks.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bin=$(imgbuild_bin "${1:-}")
recipe=recipes/debian12-node.yaml
require_tools hyperfine

hyperfine --warmup 3 --runs 30 --export-markdown /dev/stdout \
  "$bin -q validate $recipe" \
  "$bin show $recipe > /dev/null" \
  "$bin --version"

rss_kib=$(/usr/bin/time -f %M "$bin" -q validate "$recipe" 2>&1 >/dev/null | tail -1)
echo
echo "peak RSS of imgbuild validate: $((rss_kib / 1024)) MiB"
