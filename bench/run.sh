#!/usr/bin/env bash
# The whole build, side by side in one run: imgbuild, mkosi 14 (the reference build of
# ../shared/anchors/mkosi through its run.sh, given imgbuild's package list with -p) and mmdebstrap
# (the same package set as imgbuild's lock, then `ostree commit` of its root), each cold (empty
# caches) and warm (packages cached), RUNS times (default 3), medians. For imgbuild also: a no-op
# rebuild, a rebuild after one sysctl changed, and a rebuild after one package was upgraded (a
# different package each run, so each upgraded set is new to the cache), with the static delta
# between the two commits. mkosi and mmdebstrap reuse nothing between runs: their rebuilds are their
# warm builds.
#   cold  imgbuild: empty cache. mkosi: empty package cache. mmdebstrap: apt downloads everything.
#   warm  imgbuild: packages and repository metadata cached, every stage cache empty (no repacked
#         debs, no installed sets, no initramfs, no build repository, a new output bundle).
#         mkosi: its package cache kept. mmdebstrap: the .debs hardlinked into its apt cache.
# imgbuild's build ends in a qcow2 (the default recipe's other format, the raw disk, is left out but
# for one row: a sysctl rebuild with it); mkosi's in a raw disk, so its rows show the build and the
# same build plus `qemu-img convert` to a zstd qcow2 like ours. The stage caches (a cache holds the
# last qcow2's clusters too) are emptied before each warm build.
# Usage: bench/run.sh [BUILD_DIR] [RUNS]   (needs root; installs mkosi, fusefat, mmdebstrap when missing)
# Work directory: $IMGBUILD_BENCH_WORK (default /var/tmp/imgbuild-bench-run), removed at the start.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bin=$(imgbuild_bin "${1:-}")
runs=${2:-3}
require_root
require_tools jq ostree qemu-img /usr/bin/time
command -v mmdebstrap >/dev/null || apt-get -o DPkg::Lock::Timeout=600 install -y -q mmdebstrap >/dev/null
work=${IMGBUILD_BENCH_WORK:-/var/tmp/imgbuild-bench-run}
cleanup() { unmount_under "$work"; }
trap cleanup EXIT
cleanup
rm -rf --one-file-system "$work" && mkdir -p "$work" && chmod 755 "$work"
source bench/anchor.sh
prepare_anchor "$work"
results=$work/results.tsv # scenario, tool, run, seconds, peak RSS (KiB)
: >"$results"

# timed SCENARIO TOOL RUN LOG COMMAND...: runs COMMAND, records wall seconds and the largest process's
# peak RSS (GNU time's %M), output into LOG; a failure stops the benchmark.
timed() {
  local scenario=$1 tool=$2 run=$3 log=$4
  shift 4
  if ! /usr/bin/time -o "$work/time.out" -f "%e %M" "$@" >>"$log" 2>&1; then
    echo "$tool ($scenario, run $run) failed; the end of $log:" >&2
    tail -n 30 "$log" | hide_urls >&2
    exit 1
  fi
  read -r seconds rss <"$work/time.out"
  printf '%s\t%s\t%s\t%s\t%s\n' "$scenario" "$tool" "$run" "$seconds" "$rss" >>"$results"
  echo "  $tool $scenario #$run: $seconds s" >&2
}

# The recipes imgbuild builds: a copy of the shipped ones (with the overlays and kernel configs they
# name), and bench.yaml beside them, edited between runs the way a user edits a recipe.
src=$work/src
mkdir -p "$src"
cp -r recipes kernel-config "$src/"
bench_recipe() { # EXTRA_PACKAGES EXTRA_SYSCTL STATIC_DELTA [FORMATS]
  {
    echo "include: [debian12-node.yaml]"
    # The issue's builds are to a qcow2; the default recipe also makes a raw disk (rows "+ raw").
    echo "image: {formats: !replace [${4:-qcow2}]}"
    [[ -n $1 ]] && echo "packages: [$1]"
    [[ -n $2 ]] && printf 'sysctl:\n  %s\n' "$2"
    [[ $3 == yes ]] && echo "ostree: {static-delta: true}"
    true
  } >"$src/recipes/bench.yaml"
}
bench_recipe "" "" no
recipe=$src/recipes/bench.yaml
ib() { "$bin" --cache-dir "$work/ib-cache" "$@"; }

echo "== imgbuild" >&2
for run in $(seq "$runs"); do
  rm -rf "$work/ib-cache" "$work/ib-out"
  timed full-cold imgbuild "$run" "$work/imgbuild.log" "$bin" --cache-dir "$work/ib-cache" build "$recipe" -o "$work/ib-out"
done
# Keep the downloaded packages and repository metadata; empty every stage cache before each warm run.
mkdir -p "$work/ib-packages"
mv "$work/ib-cache/packages" "$work/ib-cache/metadata" "$work/ib-cache/repos" "$work/ib-packages/"
for run in $(seq "$runs"); do
  rm -rf "$work/ib-cache" "$work/ib-out" && mkdir -p "$work/ib-cache"
  cp -al "$work/ib-packages/." "$work/ib-cache/"
  timed full-warm imgbuild "$run" "$work/imgbuild.log" "$bin" --cache-dir "$work/ib-cache" build "$recipe" -o "$work/ib-out"
done
ib -q lock "$recipe" -o "$work/lock.json" >/dev/null
# The quick scenarios run at least 5 times: their medians are less at the mercy of one slow run.
quick_runs=$((runs > 5 ? runs : 5))
for run in $(seq "$quick_runs"); do
  timed noop imgbuild "$run" "$work/imgbuild.log" "$bin" --cache-dir "$work/ib-cache" build --explain "$recipe" -o "$work/ib-out"
done
for run in $(seq "$quick_runs"); do
  bench_recipe "" "net.core.netdev_max_backlog: $((16384 + run))" no
  timed sysctl imgbuild "$run" "$work/sysctl-$run.log" "$bin" --cache-dir "$work/ib-cache" build --explain "$recipe" -o "$work/ib-out"
done
grep -E '^(resolve|fetch|install|customize|initramfs|commit|image) ' "$work/sysctl-$quick_runs.log" >"$work/explain-sysctl.txt" || true
# The same with the raw disk too, as the default recipe has it (a first build switches, untimed).
bench_recipe "" "" no "qcow2, raw"
ib -q build "$recipe" -o "$work/ib-out" >/dev/null 2>>"$work/imgbuild.log"
for run in $(seq "$quick_runs"); do
  bench_recipe "" "net.core.netdev_max_backlog: $((16384 + run))" no "qcow2, raw"
  timed sysctl-raw imgbuild "$run" "$work/sysctl-raw-$run.log" "$bin" --cache-dir "$work/ib-cache" build "$recipe" -o "$work/ib-out"
done
ib_raw_alloc=$(jq -r '.artifacts.raw.allocated' "$(readlink -f "$work/ib-out/builds/latest")/manifest.json")

# One package upgraded: small packages of the lock that bookworm has in an older version than
# bookworm-security. The base build pins all of them to the old version (untimed); the timed build
# upgrades one, a different one each run.
upgrades=(libexpat1 libssh2-1 libbrotli1)
old_version() { # NAME: its version in the main suite's package list (the largest)
  local list
  list=$(ls "$work"/ib-cache/metadata/*Packages.xz | while read -r f; do echo "$(xz -dc "$f" | grep -c '^Package:') $f"; done |
    sort -n | tail -1 | cut -d' ' -f2)
  xz -dc "$list" | awk -v p="$1" '$1=="Package:"{n=$2} $1=="Version:" && n==p && !v {v=$2} END {print v}'
}
pins=()
for name in "${upgrades[@]}"; do pins+=("'$name = $(old_version "$name")'"); done
delta_pct=()
for run in $(seq "$runs"); do
  i=$(((run - 1) % ${#upgrades[@]}))
  base=$(IFS=,; echo "${pins[*]}")
  bench_recipe "$base" "" yes
  ib -q build "$recipe" -o "$work/ib-out" >/dev/null 2>>"$work/imgbuild.log"
  rest=()
  for j in "${!pins[@]}"; do [[ $j == "$i" ]] || rest+=("${pins[j]}"); done
  bench_recipe "$(IFS=,; echo "${rest[*]}")" "" yes
  timed upgrade imgbuild "$run" "$work/upgrade-$run.log" "$bin" --cache-dir "$work/ib-cache" build --explain "$recipe" -o "$work/ib-out"
  # The static delta between the two commits, against the new commit's objects alone.
  repo=$work/ib-out/repo
  new=$(ostree --repo="$repo" rev-parse imgbuild/debian12/x86_64/node)
  old=$(ostree --repo="$repo" rev-parse "$new^")
  delta=$(du -sb "$repo/deltas" | cut -f1)
  rm -rf "$work/one" && ostree --repo="$work/one" init --mode=archive &&
    ostree --repo="$work/one" pull-local --depth=0 "$repo" "$new" >/dev/null
  size=$(du -sb "$work/one/objects" | cut -f1)
  delta_pct+=("$(echo "scale=2; 100 * $delta / $size" | bc) ${upgrades[i]} $delta $size")
  rm -rf "$repo/deltas" # the next run's delta alone
  echo "  delta ${upgrades[i]} ${old:0:12}→${new:0:12}: $delta bytes of $size" >&2
done
ib_build=$(readlink -f "$work/ib-out/builds/latest")
ib_packages=$(jq '.packages | length' "$work/lock.json")
ib_qcow2=$(jq -r '.artifacts.qcow2.size' "$ib_build/manifest.json")

echo "== mkosi 14" >&2
bench_recipe "" "" no
mkosi_packages=()
for name in $("$bin" show "$recipe" | jq -r '.packages[]' | sed 's/ .*//' | sort -u); do mkosi_packages+=(-p "$name"); done
for run in $(seq "$runs"); do
  rm -rf "$work/mkosi-cache" "$work/mkosi"
  timed full-cold mkosi "$run" "$work/mkosi.log" bash "$anchor/run.sh" "$work/mkosi" "$work/mkosi-cache" \
    "${mkosi_packages[@]}" --manifest-format json
done
for run in $(seq "$runs"); do
  rm -rf "$work/mkosi"
  timed full-warm mkosi "$run" "$work/mkosi.log" bash "$anchor/run.sh" "$work/mkosi" "$work/mkosi-cache" \
    "${mkosi_packages[@]}" --manifest-format json
  timed qcow2 mkosi "$run" "$work/mkosi.log" qemu-img convert -f raw -O qcow2 -c -o compat=1.1,compression_type=zstd \
    "$work/mkosi/image" "$work/mkosi/image.qcow2"
done
mkosi_count=$(jq '[.packages[]?] | length' "$work/mkosi/image.manifest" 2>/dev/null || echo "-")
mkosi_qcow2=$(stat -c %s "$work/mkosi/image.qcow2")
mkosi_raw_alloc=$(($(stat -c %b "$work/mkosi/image") * 512))

echo "== mmdebstrap" >&2
# The lock's package set from the lock's repositories, as bench/install.sh makes it (merged /usr; no
# docs when the recipe says so), then `ostree commit` of the root into an archive repository.
mirrors=()
while IFS=$'\t' read -r url suite components; do
  mirrors+=("deb $url $suite $components")
done < <(jq -r '.repos[] | [.url, .suite, (.components | join(" "))] | @tsv' "$work/lock.json")
include=$(jq -r '[.packages[] | select(.essential != true) | .name] | join(",")' "$work/lock.json")
suite=$(jq -r '.repos[0].suite' "$work/lock.json")
# The recipe's include-packages pins as apt's preferences: such a repo gives those packages and no other.
kernel_pin=$(jq -r '.repos[] | select(.["include-packages"]) | "Package: *\nPin: release n=\(.suite)\nPin-Priority: -1\n\nPackage: \(.["include-packages"] | join(" "))\nPin: release n=\(.suite)\nPin-Priority: \(.priority)\n"' "$work/lock.json")
mkdir -p "$work/mm-debs"
jq -r '.packages[] | [(.checksum | sub("^sha256:"; "")), (.url | split("/") | last), .name, .version, .arch] | @tsv' \
  "$work/lock.json" |
  while IFS=$'\t' read -r sum file name version arch; do
    cp "$work/ib-packages/packages/$sum-$file" "$work/mm-debs/${name}_${version//:/%3a}_${arch}.deb"
  done
cat >"$work/mmdebstrap.sh" <<EOF
#!/usr/bin/env bash
# \$1: output directory; \$2: "warm" (the .debs in apt's cache) or "cold".
set -euo pipefail
warm=()
[[ \$2 == warm ]] && warm=(--setup-hook='mkdir -p "\$1/var/cache/apt/archives"'
  --setup-hook='cp -al "$work/mm-debs/." "\$1/var/cache/apt/archives/"'
  --customize-hook='for f in "\$1"/var/cache/apt/archives/*.deb; do [ -e "$work/mm-debs/\${f##*/}" ] || cp "\$f" "$work/mm-debs/"; done')
INITRD=No mmdebstrap --mode=root --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \\
  --aptopt='Apt::Install-Recommends "false"' \\
  --setup-hook='for d in bin sbin lib lib32 lib64 libx32; do mkdir -p "\$1/usr/\$d" && ln -s "usr/\$d" "\$1/\$d"; done' \\
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \\
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \\
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \\
  --setup-hook='mkdir -p "\$1/etc/apt/preferences.d" && printf "%s\\n" "$kernel_pin" >"\$1/etc/apt/preferences.d/kernel"' \\
  --include='$include' "\${warm[@]}" $suite "\$1" $(printf '"%s" ' "${mirrors[@]}")
rm -rf "\$1.repo" && ostree --repo="\$1.repo" init --mode=archive
# ostree holds files, directories and links only: the device nodes mmdebstrap made in /dev go.
find "\$1/dev" -mindepth 1 -delete
ostree --repo="\$1.repo" commit --branch=mm --tree=dir="\$1" >/dev/null
EOF
for mode in cold warm; do
  for run in $(seq "$runs"); do
    rm -rf --one-file-system "$work/mm" "$work/mm.repo"
    timed "full-$mode" mmdebstrap "$run" "$work/mmdebstrap.log" bash "$work/mmdebstrap.sh" "$work/mm" "$mode"
  done
done
mm_count=$(dpkg-query --admindir="$work/mm/var/lib/dpkg" -W | wc -l)

# The table: medians.
median() { # SCENARIO TOOL [column: 4 seconds, 5 RSS]
  awk -F'\t' -v s="$1" -v t="$2" -v c="${3:-4}" '$1==s && $2==t {print $c}' "$results" | sort -n |
    awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print ""}'
}
fmt() { [[ -n $1 ]] && printf '%.2f s' "$1" || printf -- '-'; }
ratio() { [[ -n $1 && -n $2 ]] && echo "scale=3; $1 / $2" | bc | sed 's/^\./0./' || echo -; }
mkosi_qcow2_s() { echo "$(median full-warm mkosi) + $(median qcow2 mkosi)" | bc; }
ib_warm=$(median full-warm imgbuild)
mk_warm=$(median full-warm mkosi)
mk_warm_q=$(mkosi_qcow2_s)
mm_warm=$(median full-warm mmdebstrap)
echo
echo "medians of $runs runs ($quick_runs for the no-op and sysctl rows), $(date -u +%F), $(nproc) cores"
echo
echo "| | imgbuild | mkosi 14 | mmdebstrap + ostree commit | imgbuild / mkosi | imgbuild / mmdebstrap |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| full build, cold | $(fmt "$(median full-cold imgbuild)") | $(fmt "$(median full-cold mkosi)") | $(fmt "$(median full-cold mmdebstrap)") | $(ratio "$(median full-cold imgbuild)" "$(median full-cold mkosi)") | $(ratio "$(median full-cold imgbuild)" "$(median full-cold mmdebstrap)") |"
echo "| full build, warm (to a qcow2; mkosi: raw) | $(fmt "$ib_warm") | $(fmt "$mk_warm") | $(fmt "$mm_warm") | $(ratio "$ib_warm" "$mk_warm") | $(ratio "$ib_warm" "$mm_warm") |"
echo "| full build, warm, mkosi + qemu-img convert to qcow2 (zstd) | | $(fmt "$mk_warm_q") | | $(ratio "$ib_warm" "$mk_warm_q") | |"
for scenario in noop sysctl sysctl-raw upgrade; do
  label=$(case $scenario in noop) echo "no-op rebuild" ;; sysctl) echo "one sysctl changed" ;;
    sysctl-raw) echo "one sysctl changed, qcow2 + raw" ;; upgrade) echo "one package upgraded" ;; esac)
  s=$(median "$scenario" imgbuild)
  echo "| $label (mkosi, mmdebstrap: their warm build) | $(fmt "$s") | $(fmt "$mk_warm") | $(fmt "$mm_warm") | $(ratio "$s" "$mk_warm") | $(ratio "$s" "$mm_warm") |"
done
rss() { local k; k=$(median "$1" "$2" 5); [[ -n $k ]] && echo "$((k / 1024)) MiB" || echo -; }
echo "| peak RSS of the largest process, warm build | $(rss full-warm imgbuild) | $(rss full-warm mkosi) | $(rss full-warm mmdebstrap) | | |"
echo "| qcow2 (zstd) | $((ib_qcow2 / 1048576)) MiB | $((mkosi_qcow2 / 1048576)) MiB | - | | |"
echo "| raw disk, allocated | $((ib_raw_alloc / 1048576)) MiB | $((mkosi_raw_alloc / 1048576)) MiB | - | | |"
echo "| packages | $ib_packages | $mkosi_count | $mm_count | | |"
echo
echo "imgbuild's own ratios: no-op $(fmt "$(median noop imgbuild)") (target <= 2 s);" \
  "one sysctl $(ratio "$(median sysctl imgbuild)" "$ib_warm") of a warm full build (target <= 0.15;" \
  "$(ratio "$(median sysctl-raw imgbuild)" "$ib_warm") with the raw disk too);" \
  "one package $(ratio "$(median upgrade imgbuild)" "$ib_warm") (target <= 0.4);" \
  "warm full build $(ratio "$ib_warm" "$mk_warm") of mkosi's (target <= 0.5)"
echo "imgbuild's peak RSS in each scenario (imgbuild's own process or a tool it runs):" \
  "$(for s in full-cold full-warm noop sysctl sysctl-raw upgrade; do printf '%s %s; ' "$s" "$(rss "$s" imgbuild)"; done)"
echo "static deltas (percent of the new commit's compressed objects, package, delta bytes, commit bytes):"
printf '  %s\n' "${delta_pct[@]}"
echo "build --explain after one sysctl changed:"
sed 's/^/  /' "$work/explain-sysctl.txt"
echo "build --explain after one package upgraded:"
grep -E '^(resolve|fetch|install|customize|initramfs|commit|image) ' "$work/upgrade-$runs.log" | sed 's/^/  /'
echo "imgbuild's stage timings, the last upgrade (-v would give more):"
grep -E '^(installed|customized|committed|imaged|built) ' "$work/upgrade-$runs.log" | sed 's/^/  /' | hide_urls
echo "raw results: $results"
