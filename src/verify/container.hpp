#pragma once
// The root filesystem `imgbuild test` brings for the containerd check: the host's static busybox
// (package busybox-static) as a tar archive on a disk of its own, which the guest unpacks into /run and
// runs under containerd (ctr run --rootfs). Nothing of it is in the image.

#include <filesystem>

namespace imgbuild::verify {

// A static busybox of this host (/bin/busybox, /usr/bin/busybox), or an empty path.
std::filesystem::path static_busybox();
// True when `file` is an x86-64 ELF executable with no program interpreter (statically linked).
bool is_static_elf(const std::filesystem::path& file);

// A raw disk holding a tar of bin/busybox, bin/sh (its link) and the empty directories runc mounts
// over (proc, sys, dev, tmp), written with libarchive. Throws VerifyError without a static busybox.
void write_rootfs_disk(const std::filesystem::path& path);

} // namespace imgbuild::verify
