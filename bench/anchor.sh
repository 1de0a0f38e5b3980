# Sourced by the benchmarks that run the mkosi 14 reference build (../shared/anchors/mkosi, or
# $IMGBUILD_MKOSI_ANCHOR). prepare_anchor WORK: a writable copy of the anchor in WORK/anchor whose
# links are links again (a copy that lost them holds each link's target as its only text:
# esp-shim, ../analyze-to-serial.service), mkosi and fusefat installed from Debian's packages; sets
# $anchor to the copy.
prepare_anchor() {
  local source
  source=$(realpath "${IMGBUILD_MKOSI_ANCHOR:-$(dirname "${BASH_SOURCE[0]}")/../../shared/anchors/mkosi}")
  rm -rf "$1/anchor" && cp -r "$source" "$1/anchor" && chmod -R u+w "$1/anchor"
  anchor=$1/anchor
  find "$anchor" -type f -size -256c | while read -r file; do
    target=$(cat "$file")
    if [[ $target != *$'\n'* && -n $target && -e $(dirname "$file")/$target ]]; then
      rm -f "$file" && ln -s "$target" "$file"
    fi
  done
  chmod +x "$anchor"/wrap/bin/* "$anchor"/wrap/container/esp-shim "$anchor"/run.sh "$anchor"/boot-qemu.py
  command -v mkosi >/dev/null && command -v fusefat >/dev/null ||
    apt-get -o DPkg::Lock::Timeout=600 install -y -q mkosi fusefat >/dev/null
}
