#!/usr/bin/env bash
# Image stage: `imgbuild image` of the default recipe's commit (raw + qcow2 with zstd, BIOS + UEFI),
# RUNS times (default 3), each into a new output directory with the work cache warm; prints the median
# wall time and the stage timings and sizes from manifest.json. Target: commit → raw + qcow2 < 15 s;
# qcow2 (zstd) < 400 MB. Usage: bench/image.sh [BUILD_DIR] [RUNS]   (needs root, jq)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bin=$(imgbuild_bin "${1:-}")
runs=${2:-3}
recipe=$PWD/recipes/debian12-node.yaml
require_root
require_tools jq
work=$(mktemp -d)
trap 'rm -rf --one-file-system "$work"' EXIT
cache=${IMGBUILD_BENCH_CACHE:-$work/cache}
"$bin" -q --cache-dir "$cache" commit "$recipe" --repo "$work/repo" >/dev/null # untimed
times=()
for run in $(seq "$runs"); do
  start=$(date +%s.%N)
  "$bin" -q --cache-dir "$cache" image --repo "$work/repo" --ref imgbuild/debian12/x86_64/node -o "$work/out$run" >/dev/null
  times+=("$(echo "$(date +%s.%N) - $start" | bc)")
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "image: median %.2f s of %d runs (min %.2f, max %.2f)\n", a[int((NR+1)/2)], NR, a[1], a[NR]}'
jq -r '.timings | to_entries[] | "  \(.key): \(.value * 100 | round / 100) s"' "$work/out1/manifest.json"
jq -r '"packages: \(.packages); rootfs: \(."rootfs-size" / 1048576 | round) MiB"' "$work/out1/manifest.json"
jq -r '.artifacts[] | "\(.file): \(.size / 1048576 | round) MiB (\(.allocated / 1048576 | round) MiB allocated)"' "$work/out1/manifest.json"
sums=$(for run in $(seq "$runs"); do jq -r .artifacts.raw.sha256 "$work/out$run/manifest.json"; done | sort -u | wc -l)
[[ $sums == 1 ]] && echo "raw image: the same sha256 in every run" || { echo "raw image differs between runs"; exit 1; }
