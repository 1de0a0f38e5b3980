#!/usr/bin/env bash
# Installs every build and test dependency of imgbuild from Debian 12's packages.
# Idempotent: packages already present are left alone, and apt's index is refreshed only when
# something is missing. Waits for apt's lock instead of failing when another apt runs.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates clang-format
  # libraries the code links
  libyaml-cpp-dev nlohmann-json3-dev libvalijson-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev
  libsolv-dev libsolvext-dev librpm-dev libostree-dev libglib2.0-dev
  libcurl4-openssl-dev libssl-dev libarchive-dev libgpgme-dev libseccomp-dev
  # package tooling: fixture repos (rpmbuild, createrepo_c, dpkg-deb, apt-ftparchive) and signing
  rpm createrepo-c dpkg-dev apt-utils gnupg gpgv debian-archive-keyring xz-utils zstd
  # compose: ostree, the initramfs, the sandbox
  ostree ostree-boot dracut bubblewrap uidmap
  # image: partitions, filesystems, bootloaders
  fdisk e2fsprogs libext2fs-dev dosfstools mtools grub-common grub-efi-amd64-bin grub-pc-bin
  # verify: boot under QEMU, BIOS and UEFI
  qemu-system-x86 qemu-utils ovmf
  # bench: the reference rootfs builder
  mmdebstrap time hyperfine
  # test fixtures: a static shell for scriptlets inside fixture root filesystems
  busybox-static fakeroot
)

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps.sh: run as root (it calls apt-get)" >&2; exit 2; }
  sudo=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  # dpkg-query prints "install ok installed" only for a fully installed package
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps.sh: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps.sh: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0 -y -q)
"${sudo[@]}" apt-get "${apt_opts[@]}" update
"${sudo[@]}" apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}"
