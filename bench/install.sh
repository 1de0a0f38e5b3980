#!/usr/bin/env bash
# Install stage: a warm `imgbuild rootfs` of the default recipe (packages cached, repository metadata
# warm) against `mmdebstrap --variant=minbase` installing the same package set from the same host
# mirror, both with INITRD=No and into a directory, 3 runs each in one hyperfine invocation.
# mmdebstrap gets the lock's non-Essential names with --include (it adds the Essential set, apt and
# the other Priority: required packages itself for minbase), and makes the same tree as imgbuild
# (merged /usr; no docs when the recipe says `docs: false`). Its apt finds every .deb already in
# /var/cache/apt/archives (hardlinked in by a setup hook from a copy of imgbuild's cache, plus the few
# extra minbase packages saved by one untimed warm-up run) and its package lists prefilled, so
# neither tool downloads a package in the timed runs (checked below). Two more rows, for reference:
# mmdebstrap with dpkg's force-unsafe-io (which imgbuild's dpkg runs with), and mmdebstrap with its
# defaults (docs installed, /usr not merged).
# Target: imgbuild/mmdebstrap <= 0.8 against the same tree.
# Usage: bench/install.sh [BUILD_DIR]   (needs root, mmdebstrap, hyperfine, jq)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bin=$(imgbuild_bin "${1:-}")
recipe=$PWD/recipes/debian12-node.yaml
require_root "mmdebstrap --mode=root, imgbuild rootfs"
require_tools mmdebstrap hyperfine jq
work=$(mktemp -d)
chmod 755 "$work" # apt's _apt user must reach the chroot's archives, as it would anywhere else
cleanup() {
  # mmdebstrap unmounts what it mounted in the chroot; never follow a mount left behind anyway.
  unmount_under "$work"
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# Lock and fill imgbuild's cache (untimed).
"$bin" -q --cache-dir "$work/cache" lock "$recipe" -o "$work/lock.json" >/dev/null
"$bin" -q --cache-dir "$work/cache" fetch "$work/lock.json" >/dev/null

# The same .deb files under the names apt stores them by (name_version_arch.deb, ':' as %3a). A copy,
# so nothing mmdebstrap's apt does to its archives can touch imgbuild's cache.
mkdir -p "$work/debs" "$work/lists"
jq -r '.packages[] | [(.checksum | sub("^sha256:"; "")), (.url | split("/") | last), .name, .version, .arch] | @tsv' \
  "$work/lock.json" |
  while IFS=$'\t' read -r sum file name version arch; do
    cp "$work/cache/packages/$sum-$file" "$work/debs/${name}_${version//:/%3a}_${arch}.deb"
  done

# mmdebstrap's sources: the lock's repositories (the recipe's ${debian_mirror} and
# ${debian_security_mirror}, which imgbuild read from the host's apt configuration).
mirrors=()
while IFS=$'\t' read -r url suite components; do
  mirrors+=("deb $url $suite $components")
done < <(jq -r '.repos[] | [.url, .suite, (.components | join(" "))] | @tsv' "$work/lock.json")
include=$(jq -r '[.packages[] | select(.essential != true) | .name] | join(",")' "$work/lock.json")
# The same tree as imgbuild's: merged /usr (symlinks made by a setup hook as debootstrap makes them;
# mmdebstrap's merged-usr hook needs the usr-is-merged package, which bullseye lacks) and, for the
# recipe's `docs: false`, imgbuild's dpkg path filters (src/install/deb.cpp, nodoc_dpkg_options).
dpkgopts=""
if [[ $("$bin" show "$recipe" | jq '.docs') == false ]]; then
  for option in 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
    'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' \
    'path-exclude=/usr/share/locale/*' 'path-include=/usr/share/locale/locale.alias' \
    'path-exclude=/usr/share/lintian/*' 'path-exclude=/usr/share/linda/*'; do
    dpkgopts+="--dpkgopt='$option' "
  done
fi
cat >"$work/mmdebstrap.sh" <<EOF
#!/usr/bin/env bash
# \$1: output directory, \$2: log file, \$3: "same" (imgbuild's tree) or "defaults" (mmdebstrap's);
# more mmdebstrap options after them.
set -euo pipefail
out=\$1 log=\$2 tree=\$3; shift 3
same=()
if [[ \$tree == same ]]; then
  same=(--setup-hook='for d in bin sbin lib lib32 lib64 libx32; do mkdir -p "\$1/usr/\$d" && ln -s "usr/\$d" "\$1/\$d"; done'
    $dpkgopts)
fi
INITRD=No exec mmdebstrap --mode=root --variant=minbase --verbose \\
  --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \\
  --aptopt='Apt::Install-Recommends "false"' \\
  "\${same[@]}" \\
  --include='$include' \\
  --setup-hook='mkdir -p "\$1/var/cache/apt/archives" "\$1/var/lib/apt/lists"' \\
  --setup-hook='cp -al "$work/debs/." "\$1/var/cache/apt/archives/"' \\
  --setup-hook='cp -a "$work/lists/." "\$1/var/lib/apt/lists/"' \\
  "\$@" bullseye "\$out" $(printf '"%s" ' "${mirrors[@]}") >>"\$log" 2>&1
EOF
cat >"$work/imgbuild.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
exec "$bin" --cache-dir "$work/cache" rootfs "$recipe" -o "\$1" >>"\$2" 2>&1
EOF

# Untimed warm-up of each: mmdebstrap's saves the packages minbase adds (apt, ...) and the package
# lists; imgbuild's prints the per-step timings.
bash "$work/mmdebstrap.sh" "$work/warm-mm" "$work/warmup-mmdebstrap.log" same \
  --customize-hook="for f in \"\$1\"/var/cache/apt/archives/*.deb; do [ -e '$work/debs/'\"\${f##*/}\" ] || cp \"\$f\" '$work/debs/'; done" \
  --customize-hook="find \"\$1/var/lib/apt/lists\" -maxdepth 1 -type f -name '*_*' -exec cp -p {} '$work/lists/' ';'"
"$bin" -v --cache-dir "$work/cache" rootfs "$recipe" -o "$work/warm-ib" >/dev/null 2>"$work/warmup-imgbuild.log"
rm -rf --one-file-system "$work/warm-mm" "$work/warm-ib"
sync

names=("imgbuild rootfs" "mmdebstrap --variant=minbase, the same tree"
  "mmdebstrap --variant=minbase, the same tree, --dpkgopt=force-unsafe-io"
  "mmdebstrap --variant=minbase, its defaults (docs kept, /usr not merged)")
outs=("$work/out-ib" "$work/out-mm" "$work/out-mm-unsafe" "$work/out-mm-defaults")
hyperfine --runs 3 --style basic --export-json "$work/install.json" \
  --prepare "rm -rf --one-file-system ${outs[0]} && sync" \
  --prepare "rm -rf --one-file-system ${outs[1]} && sync" \
  --prepare "rm -rf --one-file-system ${outs[2]} && sync" \
  --prepare "rm -rf --one-file-system ${outs[3]} && sync" \
  -n "${names[0]}" "bash $work/imgbuild.sh ${outs[0]} $work/imgbuild.log" \
  -n "${names[1]}" "bash $work/mmdebstrap.sh ${outs[1]} $work/mmdebstrap.log same" \
  -n "${names[2]}" "bash $work/mmdebstrap.sh ${outs[2]} $work/mmdebstrap.log same --dpkgopt=force-unsafe-io" \
  -n "${names[3]}" "bash $work/mmdebstrap.sh ${outs[3]} $work/mmdebstrap.log defaults" >&2

# No package downloads in the timed runs: apt must have needed 0 B every time (for the Essential set,
# then for the rest), imgbuild fetched 0.
if (($(grep -c 'Need to get' "$work/mmdebstrap.log") < 18)); then
  echo "cannot tell whether mmdebstrap downloaded packages; its log ends:" >&2
  tail -n 20 "$work/mmdebstrap.log" | hide_urls >&2
  exit 1
fi
if grep 'Need to get' "$work/mmdebstrap.log" | grep -qv 'Need to get 0 B/'; then
  echo "mmdebstrap downloaded packages in a timed run:" >&2
  grep 'Need to get' "$work/mmdebstrap.log" | hide_urls >&2
  exit 1
fi
if grep '^fetched' "$work/imgbuild.log" | grep -qv ': 0 downloaded'; then
  echo "imgbuild downloaded packages in a timed run:" >&2
  grep '^fetched' "$work/imgbuild.log" >&2
  exit 1
fi

packages() { dpkg-query --admindir="$1/var/lib/dpkg" -W | sort; }
echo "| command | packages installed | median | min | max | root size (du -sh) |"
echo "|---|---:|---:|---:|---:|---:|"
for i in "${!names[@]}"; do
  jq -r --arg n "$(packages "${outs[i]}" | wc -l)" --arg size "$(du -sh "${outs[i]}" | cut -f1)" --argjson i "$i" '
    .results[$i] | "| `\(.command)` | \($n) | \([.median, .min, .max] | map("\(. * 100 | round / 100) s") | join(" | ")) | \($size) |"' \
    "$work/install.json"
done
jq -r '.results | .[0].median as $ib | .[1:][]
  | "ratio imgbuild / `\(.command)` (medians): \($ib / .median * 1000 | round / 1000)"' "$work/install.json"
echo "(the target, imgbuild/mmdebstrap <= 0.8, is against the same tree: the first ratio)"
echo "packages: imgbuild $(packages "${outs[0]}" | wc -l) (lock: $(jq '.packages | length' "$work/lock.json")), mmdebstrap $(packages "${outs[1]}" | wc -l)"
only_mm=$(comm -13 <(packages "${outs[0]}") <(packages "${outs[1]}") | tr '\t' ' ' | paste -sd, -)
only_ib=$(comm -23 <(packages "${outs[0]}") <(packages "${outs[1]}") | tr '\t' ' ' | paste -sd, -)
echo "only in mmdebstrap's root (name version): ${only_mm:-none}"
echo "only in imgbuild's root (name version): ${only_ib:-none}"
echo "mmdebstrap warnings (timed runs, deduplicated):"
grep -E '^W: ' "$work/mmdebstrap.log" | sed -E 's#/tmp/[^ ]*#<path>#g' | sort | uniq -c | hide_urls || true
echo "imgbuild step timings (warm-up run, -v):"
grep -E ': [0-9.]+ (ms|s)$' "$work/warmup-imgbuild.log" | grep -v '^imgbuild: debug: |' |
  sed 's/^imgbuild: debug: /  /' | hide_urls
