# Sourced by the bench scripts after they cd to the checkout: the preamble they share. Each check exits
# with status 2 and says what is missing, before anything is built or downloaded.

# imgbuild_bin [BUILD_DIR]: the absolute path of BUILD_DIR/imgbuild (BUILD_DIR defaults to build);
# exits when it has not been built. Use it as bin=$(imgbuild_bin "${1:-}").
imgbuild_bin() {
  local bin
  bin=$(realpath -m "${1:-build}/imgbuild")
  [[ -x $bin ]] || { echo "build imgbuild first (ci/build.sh): no $bin" >&2; return 2; }
  echo "$bin"
}

# require_root [WHY]: exits unless run as root.
require_root() {
  [[ $(id -u) == 0 ]] || { echo "needs root${1:+ ($1)}" >&2; exit 2; }
}

# require_tools TOOL...: exits naming the first TOOL that is not on PATH.
require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
  done
}

# Logs may quote the host's mirror: hide_urls replaces every scheme://host with <mirror> on its way
# through.
hide_urls() { sed -E 's#[a-z]+://[^/ ]+#<mirror>#g'; }

# unmount_under DIR: lazily unmounts whatever is still mounted below DIR (deepest first), so removing
# DIR never follows a mount into the host.
unmount_under() { findmnt -rn -o TARGET | grep -F "$1/" | sort -r | xargs -r -n1 umount -l || true; }
