// The hybrid GPT disk in a plain file: sfdisk for the table, mkfs.vfat --offset and mtools for the ESP,
// mkfs.ext4 -E offset -d for the root, libext2fs to make the root's timestamps reproducible (mke2fs
// copies each source inode's ctime, which no one can set), and GRUB's boot sectors written in place.

#include "disk.hpp"

#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/fd.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/finally.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/process.hpp"
#include "imgbuild/core/timer.hpp"
#include "imgbuild/image/image.hpp"

namespace imgbuild::image {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t mib = 1024 * 1024;
constexpr std::uint64_t align = mib / sector_size; // partitions start on 1 MiB boundaries
constexpr std::uint64_t gpt_backup_sectors = 33;   // the backup table and header at the end
constexpr std::uint64_t esp_size = 64 * mib;       // FAT32's minimum is 33 MiB
constexpr std::string_view bios_boot_type = "21686148-6449-6E6F-744E-656564454649";
constexpr std::string_view esp_type = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
constexpr std::string_view root_x86_64_type = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"; // systemd-repart grows it

void put_le(std::string& buffer, std::size_t at, std::uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) buffer[at + static_cast<std::size_t>(i)] = static_cast<char>(value >> (8 * i));
}

// Sets every in-use inode's times from `epoch` (mtime clamped, the others equal to it) and the
// superblock's, through libext2fs.
void normalize_times(const fs::path& disk, std::uint64_t offset, std::int64_t epoch) {
    auto stamp = static_cast<__u32>(epoch);
    std::string io_options = fmt::format("offset={}", offset);
    ext2_filsys filesystem = nullptr;
    auto check = [&](errcode_t code, const char* what) {
        if (code) throw ImageError("Failed to {} in '{}': {}", what, disk.string(), error_message(code));
    };
    check(ext2fs_open2(disk.c_str(), io_options.c_str(), EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, unix_io_manager,
                       &filesystem),
          "open the root filesystem");
    filesystem->now = static_cast<time_t>(epoch);
    Finally close([&] {
        if (filesystem) ext2fs_close_free(&filesystem);
    });

    ext2_inode_scan scan = nullptr;
    check(ext2fs_open_inode_scan(filesystem, 0, &scan), "scan the inodes");
    int inode_size = EXT2_INODE_SIZE(filesystem->super);
    std::vector<char> buffer(static_cast<std::size_t>(inode_size));
    auto* inode = reinterpret_cast<ext2_inode_large*>(buffer.data());
    ext2_ino_t number = 0;
    for (;;) {
        errcode_t code = ext2fs_get_next_inode_full(scan, &number, reinterpret_cast<ext2_inode*>(inode), inode_size);
        if (code == EXT2_ET_BAD_BLOCK_IN_INODE_TABLE) continue;
        if (code) {
            ext2fs_close_inode_scan(scan);
            check(code, "read an inode");
        }
        if (number == 0) break;
        if (inode->i_links_count == 0 && inode->i_mode == 0) continue;
        inode->i_atime = inode->i_ctime = stamp;
        // Files keep ostree's mtime (0) or an older one; directories and symlinks, which ostree makes
        // at checkout, get the build's time whatever the history of the caches they came from.
        if (inode->i_mtime > stamp || !LINUX_S_ISREG(inode->i_mode)) inode->i_mtime = stamp;
        if (inode_size > EXT2_GOOD_OLD_INODE_SIZE && inode->i_extra_isize >= 24) {
            inode->i_atime_extra = inode->i_ctime_extra = inode->i_mtime_extra = 0;
            inode->i_crtime = stamp;
            inode->i_crtime_extra = 0;
        }
        code = ext2fs_write_inode_full(filesystem, number, reinterpret_cast<ext2_inode*>(inode), inode_size);
        if (code) {
            ext2fs_close_inode_scan(scan);
            check(code, "write an inode");
        }
    }
    ext2fs_close_inode_scan(scan);
    auto* super = filesystem->super;
    super->s_mkfs_time = super->s_wtime = super->s_mtime = super->s_lastcheck = stamp;
    ext2fs_mark_super_dirty(filesystem);
    errcode_t code = ext2fs_close_free(&filesystem);
    if (code) throw ImageError("Failed to write the root filesystem in '{}': {}", disk.string(), error_message(code));
}

} // namespace

void pwrite_all(int fd, std::string_view data, std::uint64_t offset, const fs::path& file) {
    while (!data.empty()) {
        ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw SysError<ImageError>(errno, "write '{}'", file.string());
        data.remove_prefix(static_cast<std::size_t>(n));
        offset += static_cast<std::uint64_t>(n);
    }
}

void run_tool(const std::vector<std::string>& argv, const std::string& what, std::vector<std::string> env) {
    run_checked<ImageError>(ProcessOptions{argv, std::move(env)}, what);
}

std::string derived_uuid(std::string_view seed, std::string_view purpose) {
    std::string hex = sha256_hex(fmt::format("imgbuild-uuid\n{}\n{}", seed, purpose)).substr(0, 32);
    hex[12] = '4';                                                         // version 4 layout
    hex[16] = "89ab"[std::stoi(std::string(1, hex[16]), nullptr, 16) & 3]; // RFC 4122 variant
    return fmt::format("{}-{}-{}-{}-{}", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 4), hex.substr(16, 4),
                       hex.substr(20));
}

DiskLayout plan_disk(std::uint64_t size, std::string_view seed) {
    DiskLayout layout;
    layout.size = size / mib * mib;
    layout.label_id = derived_uuid(seed, "disk");
    layout.bios = {"bios", std::string(bios_boot_type), derived_uuid(seed, "bios"), align, align};
    layout.esp = {"esp", std::string(esp_type), derived_uuid(seed, "esp"), 2 * align, esp_size / sector_size};
    std::uint64_t root_start = layout.esp.start + layout.esp.sectors;
    std::uint64_t last = layout.size / sector_size - gpt_backup_sectors; // first sector past the usable area
    std::uint64_t root_end = last / align * align;
    if (root_end <= root_start + 64 * align)
        throw ImageError("Failed to plan the disk: {} MiB leaves no room for a root filesystem", size / mib);
    layout.root = {"root", std::string(root_x86_64_type), derived_uuid(seed, "root"), root_start,
                   root_end - root_start};
    return layout;
}

std::string sfdisk_script(const DiskLayout& layout) {
    std::string script = fmt::format("label: gpt\nlabel-id: {}\nunit: sectors\nfirst-lba: 34\n", layout.label_id);
    for (const Partition* part : {&layout.bios, &layout.esp, &layout.root})
        script += fmt::format("start={}, size={}, type={}, uuid={}, name=\"{}\"\n", part->start, part->sectors,
                              part->type, part->uuid, part->name);
    return script;
}

void write_partition_table(const fs::path& disk, const DiskLayout& layout) {
    auto result = run_process(ProcessOptions{{"sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", disk.string()},
                                             {},
                                             false,
                                             {},
                                             {},
                                             sfdisk_script(layout)});
    if (!result.ok())
        throw ImageError("Failed to partition '{}': sfdisk {}:\n{}", disk.string(), result.status(), result.tail());
}

void make_esp(const fs::path& disk, const DiskLayout& layout, const fs::path& efi_image, std::string_view seed,
              std::int64_t epoch) {
    std::string volume_id = sha256_hex(fmt::format("imgbuild-vfat\n{}", seed)).substr(0, 8);
    run_tool({"mkfs.vfat", "-F", "32", "-s", "1", "-S", "512", "-n", "EFI-SYSTEM", "-i", volume_id, "--invariant",
              "--offset", std::to_string(layout.esp.start), disk.string(), std::to_string(layout.esp.bytes() / 1024)},
             "make the EFI system partition");
    // One sector per cluster: mkfs.vfat sizes clusters by the whole file, which would leave a 64 MiB
    // FAT32 too few clusters. mtools reads the partition at its byte offset; SOURCE_DATE_EPOCH fixes the entries'
    // times.
    std::string image = fmt::format("{}@@{}", disk.string(), layout.esp.offset());
    std::vector<std::string> env = {"MTOOLS_SKIP_CHECK=1",
                                    fmt::format("SOURCE_DATE_EPOCH={}", std::max<std::int64_t>(epoch, 315532800))};
    run_tool({"mmd", "-i", image, "::EFI", "::EFI/BOOT"}, "make the ESP's directories", env);
    run_tool({"mcopy", "-i", image, efi_image.string(), "::EFI/BOOT/BOOTX64.EFI"}, "copy GRUB onto the ESP", env);
}

void make_root(const fs::path& disk, const DiskLayout& layout, const RootFs& root) {
    // orphan_file and metadata_csum_seed are newer than the node's e2fsck and GRUB: left out.
    {
        ScopedTimer timer("disk: mkfs.ext4 -d");
        run_tool({"mkfs.ext4", "-q", "-F", "-L", "root", "-U", root.uuid, "-O", "^orphan_file,^metadata_csum_seed",
                  "-E",
                  fmt::format("offset={},hash_seed={},root_owner=0:0,assume_storage_prezeroed=1,nodiscard",
                              layout.root.offset(), root.hash_seed),
                  "-d", root.tree.string(), disk.string(), fmt::format("{}k", layout.root.bytes() / 1024)},
                 "make the root filesystem", {fmt::format("E2FSPROGS_FAKE_TIME={}", root.epoch)});
    }
    ScopedTimer timer("disk: inode times");
    normalize_times(disk, layout.root.offset(), root.epoch);
}

void install_bios_boot(const fs::path& disk, const DiskLayout& layout, const fs::path& boot_img,
                       const fs::path& core_img) {
    std::string boot = read_file(boot_img);
    std::string core = read_file(core_img);
    if (boot.size() != sector_size) throw ImageError("'{}' is not a 512-byte boot sector", boot_img.string());
    std::uint64_t core_sectors = (core.size() + sector_size - 1) / sector_size;
    if (core_sectors > layout.bios.sectors)
        throw ImageError("GRUB's core image ({} bytes) does not fit the BIOS boot partition", core.size());
    core.resize(core_sectors * sector_size, '\0');

    // core.img starts with diskboot.img, whose last 12 bytes are a block list (start sector, sector
    // count, load segment) of the rest of the core image.
    constexpr std::size_t blocklist = sector_size - 12;
    put_le(core, blocklist, layout.bios.start + 1, 8);
    put_le(core, blocklist + 8, core_sectors - 1, 2);

    // boot.img: its code only (the first 440 bytes: the disk signature and the protective MBR's
    // partition table stay), with the sector of core.img at 0x5c.
    constexpr std::size_t kernel_sector = 0x5c;
    put_le(boot, kernel_sector, layout.bios.start, 8);
    // A hard disk: the check for BIOSes that pass a floppy's drive number becomes two NOPs, as
    // grub-bios-setup makes it.
    constexpr std::size_t drive_check = 0x66;
    boot[drive_check] = boot[drive_check + 1] = static_cast<char>(0x90);

    Fd file(::open(disk.c_str(), O_WRONLY | O_CLOEXEC));
    int fd = file.get();
    if (fd < 0) throw SysError<ImageError>(errno, "open '{}'", disk.string());
    pwrite_all(fd, core, layout.bios.offset(), disk);
    pwrite_all(fd, std::string_view(boot).substr(0, 440), 0, disk);
}

} // namespace imgbuild::image
