#!/usr/bin/env bash
# Two imgbuild binaries side by side on the measures the speed targets use, runs interleaved (A, B, A,
# B…) so both meet the same machine: a warm full build of the default recipe to a qcow2 (packages
# and repository metadata cached, every stage cache empty, a new bundle), then one-sysctl rebuilds
# (a new value each run). With MKOSI=1 the mkosi 14 reference build (warm) runs too, for the ratio
# the warm-build target is stated in. It answers "what did this change cost": e.g. the commit before
# a change against the commit after it.
# Usage: bench/compare.sh BUILD_DIR_A BUILD_DIR_B [RUNS]   (needs root; RUNS default 3, 5 for rebuilds)
# Work directory: $IMGBUILD_BENCH_WORK (default /var/tmp/imgbuild-bench-compare), removed at the start.
# Prints a table of medians (min–max); raw timings in results.tsv there.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
[[ $# -ge 2 ]] || { echo "usage: bench/compare.sh BUILD_DIR_A BUILD_DIR_B [RUNS]" >&2; exit 2; }
bins=("$(imgbuild_bin "$1")" "$(imgbuild_bin "$2")")
runs=${3:-3}
quick_runs=$((runs > 5 ? runs : 5))
require_root
work=${IMGBUILD_BENCH_WORK:-/var/tmp/imgbuild-bench-compare}
cleanup() { unmount_under "$work"; }
trap cleanup EXIT
cleanup
rm -rf --one-file-system "$work" && mkdir -p "$work"
results=$work/results.tsv # scenario, which (A/B), run, seconds
: >"$results"

timed() { # SCENARIO WHICH RUN COMMAND...
  local scenario=$1 which=$2 run=$3
  shift 3
  if ! /usr/bin/time -o "$work/time.out" -f "%e" "$@" >>"$work/log" 2>&1; then
    echo "$which ($scenario, run $run) failed; the end of $work/log:" >&2
    tail -n 30 "$work/log" | hide_urls >&2
    exit 1
  fi
  printf '%s\t%s\t%s\t%s\n' "$scenario" "$which" "$run" "$(cat "$work/time.out")" >>"$results"
  echo "  $which $scenario #$run: $(cat "$work/time.out") s" >&2
}

# The recipe: the default one to a qcow2, with one sysctl the rebuilds change.
src=$work/src
mkdir -p "$src"
cp -r recipes kernel-config "$src/"
recipe=$src/recipes/bench.yaml
bench_recipe() { # SYSCTL_VALUE
  printf 'include: [debian12-node.yaml]\nimage: {formats: !replace [qcow2]}\n' >"$recipe"
  [[ -n ${1:-} ]] && printf 'sysctl:\n  net.core.netdev_max_backlog: %s\n' "$1" >>"$recipe"
  true
}
bench_recipe ""

# Packages and repository metadata, fetched once (by A) and shared by hardlinks.
echo "== filling the package cache" >&2
"${bins[0]}" --cache-dir "$work/fill" build "$recipe" -o "$work/fill-out" >>"$work/log" 2>&1
mkdir -p "$work/packages"
mv "$work/fill/packages" "$work/fill/metadata" "$work/fill/repos" "$work/packages/"
rm -rf "$work/fill" "$work/fill-out"

echo "== warm full builds" >&2
for run in $(seq "$runs"); do
  for i in 0 1; do
    which=$([[ $i == 0 ]] && echo A || echo B)
    rm -rf "$work/cache-$which" "$work/out-$which" && mkdir -p "$work/cache-$which"
    cp -al "$work/packages/." "$work/cache-$which/"
    timed full-warm "$which" "$run" "${bins[i]}" --cache-dir "$work/cache-$which" build "$recipe" -o "$work/out-$which"
  done
done
echo "== one sysctl changed" >&2
for run in $(seq "$quick_runs"); do
  bench_recipe $((16384 + run))
  for i in 0 1; do
    which=$([[ $i == 0 ]] && echo A || echo B)
    timed sysctl "$which" "$run" "${bins[i]}" --cache-dir "$work/cache-$which" build "$recipe" -o "$work/out-$which"
  done
done

if [[ ${MKOSI:-0} == 1 ]]; then
  echo "== mkosi 14 (warm)" >&2
  source bench/anchor.sh
  prepare_anchor "$work"
  bench_recipe ""
  packages=()
  for name in $("${bins[1]}" show "$recipe" | jq -r '.packages[]' | sed 's/ .*//' | sort -u); do packages+=(-p "$name"); done
  bash "$anchor/run.sh" "$work/mkosi" "$work/mkosi-cache" "${packages[@]}" >>"$work/log" 2>&1 # fills its cache
  for run in $(seq "$runs"); do
    rm -rf "$work/mkosi"
    timed full-warm mkosi "$run" bash "$anchor/run.sh" "$work/mkosi" "$work/mkosi-cache" "${packages[@]}"
  done
fi

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f s (%.2f–%.2f)", m, a[1], a[NR]}'; }
value() { awk -F'\t' -v s="$1" -v w="$2" '$1==s && $2==w {print $4}' "$results"; }
mid() { value "$1" "$2" | sort -n | awk '{a[NR]=$1} END {print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
echo
echo "| | A ($1) | B ($2) |"
echo "|---|---:|---:|"
echo "| warm full build | $(value full-warm A | median) | $(value full-warm B | median) |"
echo "| one sysctl changed | $(value sysctl A | median) | $(value sysctl B | median) |"
echo "| one sysctl / warm full build | $(echo "scale=3; $(mid sysctl A) / $(mid full-warm A)" | bc) | $(echo "scale=3; $(mid sysctl B) / $(mid full-warm B)" | bc) |"
if [[ ${MKOSI:-0} == 1 ]]; then
  echo "| mkosi 14 warm | $(value full-warm mkosi | median) | |"
  echo "| warm full build / mkosi's | $(echo "scale=3; $(mid full-warm A) / $(mid full-warm mkosi)" | bc) | $(echo "scale=3; $(mid full-warm B) / $(mid full-warm mkosi)" | bc) |"
fi
