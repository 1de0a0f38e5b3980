#pragma once
// GRUB for the hybrid disk: one configuration in the root filesystem that both GRUBs (i386-pc from the
// BIOS boot partition, x86_64-efi from the ESP) read, made from ostree's boot entries; and their
// core images, which find the root filesystem by UUID.

#include <filesystem>
#include <string>
#include <vector>

namespace imgbuild::image {

// One Boot Loader Specification entry, as ostree writes them under /boot/loader/entries.
struct BootEntry {
    std::string title;
    std::string linux;
    std::string initrd;
    std::string options;
    long version = 0;
};

// The entries of the sysroot's current boot version, the default (highest version) first.
std::vector<BootEntry> read_boot_entries(const std::filesystem::path& sysroot);

struct GrubSettings {
    std::string root_uuid;
    bool serial = true; // menu on the serial console as well (ECS, CVM and QEMU capture ttyS0)
    int timeout = 1;
};

// grub.cfg with one menu entry per boot entry: plain `linux`/`initrd` (both GRUB platforms have them,
// unlike linux16 and linuxefi), paths under /boot of the root filesystem.
std::string grub_config(const std::vector<BootEntry>& entries, const GrubSettings& settings);

// The embedded configuration of both core images: find the root filesystem, load grub.cfg from it.
std::string early_config(const std::string& root_uuid);

// Into the sysroot's /boot: GRUB's modules for both platforms, loader/grub.cfg and the link
// grub/grub.cfg → ../loader/grub.cfg that ostree's grub2 backend expects (it regenerates
// loader.N/grub.cfg on the node at every deployment).
void install_grub_files(const std::filesystem::path& sysroot, const GrubSettings& settings);

struct CoreImages {
    std::filesystem::path bios; // core.img for the BIOS boot partition
    std::filesystem::path efi;  // BOOTX64.EFI for the ESP
    std::filesystem::path boot_img;
};
// grub-mkimage for both platforms into `dir`.
CoreImages make_core_images(const std::filesystem::path& dir, const std::string& root_uuid);

} // namespace imgbuild::image
