#!/usr/bin/env bash
# Commit stage: `imgbuild commit` of the default recipe, the commit stage's own time (the tree into the
# bare-user build repository, the pull into the archive repository, the prune) as imgbuild logs it
# with -v, in three situations:
#   1. cold: a new archive repository and a new build repository;
#   2. a rebuild where only a sysctl changed: the archive has the previous build, packages and
#      initramfs are cached (the case the issue sets < 3 s for);
#   3. the same inputs again: "unchanged", nothing built.
# For reference, `ostree commit` (the CLI) of the same tree straight into an archive repository and
# into a bare-user one. Then reproducibility: two builds with the initramfs cache emptied (dracut runs
# each time) into new repositories must give the same checksum.
# Targets: cold commit stage < 10 s; the sysctl-only rebuild's commit stage < 3 s.
# Usage: bench/commit.sh [BUILD_DIR]   (needs root, ostree, jq)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bin=$(imgbuild_bin "${1:-}")
recipe=$PWD/recipes/debian12-node.yaml
require_root "imgbuild commit builds a root"
require_tools ostree jq
work=$(mktemp -d)
trap 'rm -rf --one-file-system "$work"' EXIT
cache=$work/cache

# One build; prints "checksum commit-stage-seconds build-seconds" and keeps the JSON log.
build() { # recipe repo log
  local start end checksum stage
  start=$(date +%s.%N)
  checksum=$("$bin" -v --log-format json --cache-dir "$cache" commit "$1" --repo "$2" 2>"$3")
  end=$(date +%s.%N)
  stage=$(jq -r 'select(.msg | test("^commit: [0-9.]+ ms$")) | .msg | capture("(?<ms>[0-9.]+)").ms' "$3")
  echo "$checksum ${stage:-0} $(echo "$end - $start" | bc)"
}
timer() { jq -r --arg what "$2" 'select(.msg | startswith($what + ": ")) | .msg' "$1" | head -1; }

# Fill the caches (untimed): packages, repacked debs, the initramfs.
"$bin" -q --cache-dir "$cache" commit "$recipe" --repo "$work/warmup" >/dev/null
rm -rf "$work/warmup" "$cache/ostree-build"

echo "== 1. cold: new archive and build repositories"
read -r first stage total < <(build "$recipe" "$work/repo" "$work/cold.log")
echo "commit stage $(echo "scale=2; $stage / 1000" | bc) s (whole build $total s); $(timer "$work/cold.log" "commit: tree"); $(timer "$work/cold.log" "commit: pull into the archive")"
grep -o '"msg":"tree: [^"]*"' "$work/cold.log" || true
du -sh "$work/repo" | cut -f1 | sed 's/^/archive repository: /'

echo "== 2. only a sysctl changed"
cat >"$work/sysctl.yaml" <<EOF
include: [$recipe]
sysctl:
  net.core.netdev_max_backlog: 16384
EOF
read -r second stage total < <(build "$work/sysctl.yaml" "$work/repo" "$work/sysctl.log")
echo "commit stage $(echo "scale=2; $stage / 1000" | bc) s (whole build $total s); $(timer "$work/sysctl.log" "commit: tree"); $(timer "$work/sysctl.log" "commit: pull into the archive")"
grep -o '"msg":"committed [^"]*"' "$work/sysctl.log"
[[ $(ostree --repo="$work/repo" rev-parse "$second^") == "$first" ]] && echo "parent: the previous build"

echo "== 3. the same inputs again"
start=$(date +%s.%N)
again=$("$bin" -q --cache-dir "$cache" commit "$work/sysctl.yaml" --repo "$work/repo")
echo "unchanged in $(echo "$(date +%s.%N) - $start" | bc) s: $([[ $again == "$second" ]] && echo "same commit" || echo "DIFFERENT: $again")"

echo "== reference: ostree commit (CLI) of the same tree"
"$bin" -q --cache-dir "$cache" rootfs "$recipe" -o "$work/root" >/dev/null
ostree --repo="$work/ref-archive" init --mode=archive
ostree --repo="$work/ref-bare" init --mode=bare-user
sync
for mode in archive bare; do
  start=$(date +%s.%N)
  ostree --repo="$work/ref-$mode" commit --branch=ref --tree=dir="$work/root" >/dev/null
  echo "ostree commit into $mode: $(echo "$(date +%s.%N) - $start" | bc) s"
done
du -sh "$work/root" | cut -f1 | sed 's/^/root: /'

echo "== reproducibility: dracut runs again, new repositories"
sums=()
for run in 1 2; do
  rm -rf "$cache/initramfs" "$cache/ostree-build"
  read -r sum stage total < <(build "$recipe" "$work/repro-$run" "$work/repro-$run.log")
  echo "run $run: $sum ($(timer "$work/repro-$run.log" dracut))"
  sums+=("$sum")
done
if [[ ${sums[0]} == "${sums[1]}" && ${sums[0]} == "$first" ]]; then
  echo "reproducible: the same checksum as the cold build"
else
  echo "NOT REPRODUCIBLE: ${sums[*]} vs $first"
  ostree --repo="$work/repro-1" pull-local "$work/repro-2" "${sums[1]}" >/dev/null
  ostree --repo="$work/repro-1" diff "${sums[0]}" "${sums[1]}"
  exit 1
fi
