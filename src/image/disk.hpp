#pragma once
// The hybrid GPT disk: a BIOS boot partition holding GRUB's i386-pc core image, an EFI system
// partition (vfat) holding GRUB for x86_64-efi, and the ext4 root with the sysroot and /boot. Made in
// a plain file, without loop devices or mounts.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace imgbuild::image {

constexpr std::uint64_t sector_size = 512;

struct Partition {
    std::string name;
    std::string type;        // GPT type GUID
    std::string uuid;        // unique partition GUID
    std::uint64_t start = 0; // in sectors
    std::uint64_t sectors = 0;

    std::uint64_t offset() const { return start * sector_size; }
    std::uint64_t bytes() const { return sectors * sector_size; }
};

struct DiskLayout {
    std::uint64_t size = 0; // bytes
    std::string label_id;   // the disk GUID
    Partition bios, esp, root;
};

// Writes all of `data` into `fd` at `offset`; throws ImageError naming `file`.
void pwrite_all(int fd, std::string_view data, std::uint64_t offset, const std::filesystem::path& file);

// Runs a tool of the image stage; throws ImageError "Failed to <what>: <tool> <status>" with its output.
void run_tool(const std::vector<std::string>& argv, const std::string& what, std::vector<std::string> env = {});

// A UUID (version 4 layout) derived from `seed` and `purpose`: the same inputs, the same UUID.
std::string derived_uuid(std::string_view seed, std::string_view purpose);

// The partitions of a disk of `size` bytes (1 MiB aligned; the root takes what is left). Throws
// ImageError when the disk is too small for them.
DiskLayout plan_disk(std::uint64_t size, std::string_view seed);

// sfdisk's input for the layout.
std::string sfdisk_script(const DiskLayout& layout);

// Writes the partition table of `layout` into `disk` (a file of layout.size bytes).
void write_partition_table(const std::filesystem::path& disk, const DiskLayout& layout);

// The ESP: vfat (volume id from the seed, --invariant) with EFI/BOOT/BOOTX64.EFI, dated `epoch`
// (FAT cannot go before 1980).
void make_esp(const std::filesystem::path& disk, const DiskLayout& layout, const std::filesystem::path& efi_image,
              std::string_view seed, std::int64_t epoch);

struct RootFs {
    std::filesystem::path tree; // what the filesystem holds
    std::string uuid;
    std::string hash_seed;
    std::int64_t epoch = 0; // every inode's times clamped to it
};
// The root partition: ext4 made from `root.tree` (mkfs.ext4 -E offset -d), then every inode's
// timestamps set from `epoch` through libext2fs, so the same tree gives the same bytes.
void make_root(const std::filesystem::path& disk, const DiskLayout& layout, const RootFs& root);

// What grub-bios-setup does for a BIOS boot partition (it cannot work on a file without probing the
// host's devices; osbuild's grub2.inst stage does the same): boot.img's code into the MBR (the
// partition table kept), pointing at core.img written to the BIOS boot partition, whose first
// sector's block list points at the rest of it.
void install_bios_boot(const std::filesystem::path& disk, const DiskLayout& layout,
                       const std::filesystem::path& boot_img, const std::filesystem::path& core_img);

} // namespace imgbuild::image
