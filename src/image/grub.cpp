// GRUB for the hybrid disk: the boot menu made from ostree's BLS entries (Debian's GRUB has no blscfg),
// GRUB's modules copied into the root's /boot, and the two core images made with grub-mkimage.

#include "grub.hpp"

#include "disk.hpp"

#include <algorithm>
#include <sstream>

#include <fmt/format.h>

#include "imgbuild/core/files.hpp"
#include "imgbuild/core/strings.hpp"
#include "imgbuild/image/image.hpp"

namespace imgbuild::image {
namespace {

namespace fs = std::filesystem;

const fs::path grub_lib = "/usr/lib/grub";

// " 'a' 'b=c'": the words of a BLS options line, each single-quoted for GRUB (which removes the quotes
// before the kernel sees the words, joined by single spaces, as BLS means them).
std::string grub_words(std::string_view options) {
    std::string words;
    std::size_t at = 0;
    while (at < options.size()) {
        std::size_t start = options.find_first_not_of(" \t", at);
        if (start == std::string_view::npos) break;
        std::size_t end = options.find_first_of(" \t", start);
        words += " " + single_quoted(options.substr(start, end == std::string_view::npos ? end : end - start));
        at = end;
    }
    return words;
}

} // namespace

std::vector<BootEntry> read_boot_entries(const fs::path& sysroot) {
    std::vector<BootEntry> entries;
    std::error_code ec;
    fs::path dir = sysroot / "boot/loader/entries";
    for (const auto& file : fs::directory_iterator(dir, ec)) {
        if (file.path().extension() != ".conf") continue;
        BootEntry entry;
        std::istringstream text(read_file(file.path()));
        for (std::string line; std::getline(text, line);) {
            auto space = line.find(' ');
            if (space == std::string::npos) continue;
            auto start = line.find_first_not_of(' ', space);
            if (start == std::string::npos) continue;
            std::string key = line.substr(0, space), value = line.substr(start);
            value.erase(value.find_last_not_of(" \t\r") + 1);
            if (key == "title")
                entry.title = value;
            else if (key == "linux")
                entry.linux = value;
            else if (key == "initrd")
                entry.initrd = value;
            else if (key == "options")
                entry.options = value;
            else if (key == "version")
                entry.version = std::strtol(value.c_str(), nullptr, 10);
        }
        if (entry.linux.empty()) throw ImageError("The boot entry '{}' names no kernel", file.path().string());
        entries.push_back(std::move(entry));
    }
    if (entries.empty()) throw ImageError("Failed to find ostree's boot entries in '{}'", dir.string());
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.version > b.version; });
    return entries;
}

std::string grub_config(const std::vector<BootEntry>& entries, const GrubSettings& settings) {
    std::string config =
        "# Made by imgbuild from ostree's boot entries. On the node, ostree regenerates loader.N/grub.cfg at\n"
        "# every deployment (grub-mkconfig with the image's /etc/grub.d/15_ostree).\n";
    config += fmt::format("set default=0\nset timeout={}\n", settings.timeout);
    if (settings.serial)
        config += "serial --unit=0 --speed=115200\nterminal_input console serial\nterminal_output console serial\n";
    config += fmt::format("insmod part_gpt\ninsmod ext2\ninsmod gzio\nsearch --no-floppy --fs-uuid --set=root {}\n",
                          settings.root_uuid);
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto& entry = entries[i];
        config += fmt::format("menuentry {} --id ostree-{} {{\n",
                              single_quoted(entry.title.empty() ? "ostree" : entry.title), i);
        // ostree writes paths relative to /boot; here /boot is a directory of the root filesystem. Each
        // word is single-quoted: GRUB's script lexer would read '$', ';', '{', '#' and quotes in a kernel
        // argument as its own syntax, cut the line, or drop what follows (ostree= among it).
        config += fmt::format("    linux {}{}\n", single_quoted("/boot" + entry.linux), grub_words(entry.options));
        if (!entry.initrd.empty()) config += fmt::format("    initrd {}\n", single_quoted("/boot" + entry.initrd));
        config += "}\n";
    }
    return config;
}

std::string early_config(const std::string& root_uuid) {
    return fmt::format("search --no-floppy --fs-uuid --set=root {}\nset prefix=($root)/boot/grub\n", root_uuid);
}

void install_grub_files(const fs::path& sysroot, const GrubSettings& settings) {
    fs::path grub = sysroot / "boot/grub";
    for (const char* platform : {"i386-pc", "x86_64-efi"}) {
        fs::create_directories(grub / platform);
        for (const auto& file : fs::directory_iterator(grub_lib / platform)) {
            auto ext = file.path().extension();
            if (ext == ".mod" || ext == ".lst")
                fs::copy_file(file.path(), grub / platform / file.path().filename(),
                              fs::copy_options::overwrite_existing);
        }
    }
    // loader is ostree's link to loader.N, swapped at each deployment; grub.cfg goes beside the entries.
    fs::path loader = sysroot / "boot/loader";
    write_file_atomic(fs::canonical(loader) / "grub.cfg", grub_config(read_boot_entries(sysroot), settings));
    std::error_code ec;
    fs::remove(grub / "grub.cfg", ec);
    fs::create_symlink("../loader/grub.cfg", grub / "grub.cfg");
}

CoreImages make_core_images(const fs::path& dir, const std::string& root_uuid) {
    CoreImages images{dir / "core.img", dir / "BOOTX64.EFI", grub_lib / "i386-pc/boot.img"};
    fs::path config = dir / "early.cfg";
    write_file_atomic(config, early_config(root_uuid));
    run_tool({"grub-mkimage", "-O", "i386-pc", "-d", (grub_lib / "i386-pc").string(), "-o", images.bios.string(), "-c",
              config.string(), "-p", "/boot/grub", "biosdisk", "part_gpt", "ext2", "search", "search_fs_uuid"},
             "make GRUB's i386-pc core image");
    run_tool({"grub-mkimage",
              "-O",
              "x86_64-efi",
              "-d",
              (grub_lib / "x86_64-efi").string(),
              "-o",
              images.efi.string(),
              "-c",
              config.string(),
              "-p",
              "/boot/grub",
              "part_gpt",
              "ext2",
              "search",
              "search_fs_uuid",
              "normal",
              "configfile",
              "linux",
              "gzio",
              "all_video",
              "efi_gop",
              "serial",
              "terminal"},
             "make GRUB's x86_64-efi image");
    return images;
}

} // namespace imgbuild::image
