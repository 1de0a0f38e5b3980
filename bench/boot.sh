#!/usr/bin/env bash
# Boot time: the default recipe's image next to the mkosi 14 reference image (../shared/anchors/mkosi,
# or $IMGBUILD_MKOSI_ANCHOR), both booted the same way: UEFI (OVMF), q35, TCG, 2 vCPUs, 2 GiB, no
# network, by the anchor's boot-qemu.py (host wall time from spawning QEMU to "Reached target
# Multi-User System" on the serial console), RUNS times each (default 3). systemd-analyze's kernel /
# initrd / userspace split comes from `imgbuild test --json` for ours and from the anchor's own unit for
# mkosi's. Builds what is missing (mkosi and fusefat are installed from Debian's packages for the
# reference build). Usage: bench/boot.sh [BUILD_DIR] [RUNS]   (needs root, jq)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bin=$(imgbuild_bin "${1:-}")
runs=${2:-3}
require_root
require_tools jq
work=${IMGBUILD_BENCH_WORK:-/var/tmp/imgbuild-bench-boot}
cache=${IMGBUILD_BENCH_CACHE:-$work/cache}
mkdir -p "$work"
source bench/anchor.sh
prepare_anchor "$work"
median() { sort -n | awk '{a[NR]=$1} END {if (NR) printf "%.1f", a[int((NR+1)/2)]; else printf "-"}'; }

# Ours: the bundle (reused when built already), then RUNS boot tests and RUNS plain boots
# (IMGBUILD_BENCH_REUSE=1 keeps the results of an earlier run and boots only what is missing).
"$bin" -q --cache-dir "$cache" build recipes/debian12-node.yaml -o "$work/ours" >/dev/null
if [[ ${IMGBUILD_BENCH_REUSE:-} != 1 || ! -s $work/ours-boot.jsonl ]]; then
raw=$(ls "$work"/ours/builds/latest/*.raw)
for run in $(seq "$runs"); do
  "$bin" -q --cache-dir "$cache" test "$work/ours" --boot uefi --accel tcg --json --log-dir "$work/ours-test-$run" \
    > "$work/ours-test-$run.json"
done
python3 "$anchor/boot-qemu.py" "$raw" "$work/ours-boot" --runs "$runs" --timeout 100 > "$work/ours-boot.jsonl"
fi

# mkosi's reference image, built by the anchor's run.sh.
if [[ ! -e $work/mkosi/image ]]; then
  bash "$anchor/run.sh" "$work/mkosi" "$work/mkosi-cache" >/dev/null 2>"$work/mkosi-build.log"
fi
if [[ ${IMGBUILD_BENCH_REUSE:-} != 1 || ! -s $work/mkosi-boot.jsonl ]]; then
  python3 "$anchor/boot-qemu.py" "$work/mkosi/image" "$work/mkosi-boot" --runs "$runs" --timeout 150 > "$work/mkosi-boot.jsonl"
fi

span() { # "4.657s" / "1min 2.3s" → seconds
  awk '{t=0; for (i=1;i<=NF;i++) { v=$i; if (v ~ /min$/) t+=60*substr(v,1,length(v)-3); else if (v ~ /ms$/) t+=substr(v,1,length(v)-2)/1000; else if (v ~ /s$/) t+=substr(v,1,length(v)-1) } printf "%.3f\n", t}'
}
analyze_part() { # LINE PART → seconds of "(PART)"
  sed -n "s/.*\(in\|+\) \([0-9][0-9a-z. ]*\) ($2).*/\2/p" <<<"$1" | span
}
row() { printf '| %-32s | %12s | %12s |\n' "$1" "$2" "$3"; }
ours_wall=$(jq -r '.multi_user // empty' "$work/ours-boot.jsonl" | median)
mkosi_wall=$(jq -r '.multi_user // empty' "$work/mkosi-boot.jsonl" | median)
ours_lines=$(jq -r '.boots[0]["systemd-analyze"].text' "$work"/ours-test-*.json)
mkosi_lines=$(jq -r '.systemd_analyze // empty' "$work/mkosi-boot.jsonl" | sed 's/^/Startup finished in /')
part() { while IFS= read -r line; do [[ -n $line ]] && analyze_part "$line" "$1"; done <<<"$2" | median; }
total() { while IFS= read -r line; do [[ -n $line ]] && sed -n 's/.* = \(.*\)$/\1/p' <<<"$line" | span; done <<<"$1" | median; }
echo "boot under TCG (UEFI, q35, 2 vCPUs, 2 GiB), medians of $runs runs"
echo "(mkosi's total includes firmware and loader, which systemd-boot reports and GRUB does not)"
row "figure" "imgbuild" "mkosi 14"
row "---" "---:" "---:"
row "host wall to multi-user (s)" "$ours_wall" "$mkosi_wall"
for p in kernel initrd userspace; do row "systemd-analyze $p (s)" "$(part "$p" "$ours_lines")" "$(part "$p" "$mkosi_lines")"; done
sum3() { while IFS= read -r line; do [[ -n $line ]] || continue
  echo "$(analyze_part "$line" kernel) + $(analyze_part "$line" initrd) + $(analyze_part "$line" userspace)" | bc; done <<<"$1" | median; }
row "kernel + initrd + userspace (s)" "$(sum3 "$ours_lines")" "$(sum3 "$mkosi_lines")"
row "systemd-analyze total (s)" "$(total "$ours_lines")" "$(total "$mkosi_lines")"
commit=$(jq -r .commit "$work/ours/builds/latest/manifest.json")
initramfs=$(ostree --repo="$work/ours/repo" ls -R "$commit" /usr/lib/modules | awk '/initramfs/ {printf "%.1f", $4/1048576}')
row "our initramfs (MiB)" "$initramfs" "-"
jq -r '"boot test: \(.passed) (\([.boots[].checks[]] | length) checks)"' "$work/ours-test-1.json"
