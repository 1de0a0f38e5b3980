#!/usr/bin/env bash
# Fetch stage: cold download of every package in the default recipe's lock (196 .deb files from the
# host's Debian mirror) by `curl` fetching the same URLs one after the other -- a loop of `curl -sf -o`
# (a process, a name lookup and a connection per file), and one curl process given every URL (one
# lookup, the connection kept alive, still one file after the other) -- and by `imgbuild fetch` with
# 1, 4 and 8 connections (sha256-verified into the content-addressed cache). Every run starts from an
# empty package directory; repository metadata stays warm (the lock is made once, untimed).
# hyperfine, 3 runs each, one invocation. Targets: imgbuild -j 1 within 1.5x of sequential curl,
# faster than curl with -j > 1.
# Usage: bench/fetch.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bin=$(imgbuild_bin "${1:-}")
recipe=recipes/debian12-node.yaml
require_tools curl hyperfine jq
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin" -q --cache-dir "$work/cache" lock "$recipe" -o "$work/lock.json" >/dev/null
jq -r '.packages[].url' "$work/lock.json" >"$work/urls"
count=$(wc -l <"$work/urls")
bytes=$(jq '[.packages[].size] | add' "$work/lock.json")
cat >"$work/curl.sh" <<'EOF'
#!/usr/bin/env bash
# $1: URL list, $2: output directory
set -euo pipefail
while read -r url; do curl -sf -o "$2/${url##*/}" "$url"; done <"$1"
EOF
while read -r url; do
  printf 'url = "%s"\noutput = "%s"\n' "$url" "$work/curl/${url##*/}"
done <"$work/urls" >"$work/curl.config"

hyperfine --runs 3 --style basic --export-json "$work/fetch.json" \
  --prepare "rm -rf $work/curl && mkdir $work/curl" \
  --prepare "rm -rf $work/curl && mkdir $work/curl" \
  --prepare "rm -rf $work/cache/packages" \
  --prepare "rm -rf $work/cache/packages" \
  --prepare "rm -rf $work/cache/packages" \
  -n "curl -sf -o, a loop over the URLs" "bash $work/curl.sh $work/urls $work/curl" \
  -n "curl -sf -K, one process, all URLs" "curl -sf -K $work/curl.config" \
  -n "imgbuild fetch -j 1" "$bin -q -j 1 --cache-dir $work/cache fetch $work/lock.json" \
  -n "imgbuild fetch -j 4" "$bin -q -j 4 --cache-dir $work/cache fetch $work/lock.json" \
  -n "imgbuild fetch -j 8" "$bin -q -j 8 --cache-dir $work/cache fetch $work/lock.json" >&2

# Both got every byte: curl's files and imgbuild's cache each hold the lock's total.
for dir in "$work/curl" "$work/cache/packages"; do
  got=$(find "$dir" -type f -name '*.deb' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
  [[ $got == "$bytes" ]] || { echo "$dir holds $got bytes, the lock $bytes" >&2; exit 1; }
done

echo "| command | median | min | max | MiB/s (median) | ratio to the curl loop | ratio to one curl process |"
echo "|---|---:|---:|---:|---:|---:|---:|"
jq -r --argjson bytes "$bytes" '
  def r(n): . * n | round / n;
  .results[0].median as $loop | .results[1].median as $one
  | .results[]
  | "| `\(.command)` | \([.median, .min, .max] | map("\(r(1000)) s") | join(" | ")) | \($bytes / 1048576 / .median | r(10)) | \(.median / $loop | r(1000)) | \(.median / $one | r(100)) |"' \
  "$work/fetch.json"
echo "$count packages, $bytes bytes ($(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB)"
