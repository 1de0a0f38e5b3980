#pragma once
// The steps of the customize stage, in the order customize() runs them. They reach the root's files
// through a RootDir, so every path is resolved inside the tree, whatever links it holds.

#include <filesystem>
#include <string>
#include <vector>

#include "imgbuild/core/root_dir.hpp"
#include "imgbuild/customize/customize.hpp"
#include "imgbuild/customize/kernel.hpp"
#include "imgbuild/install/sandbox.hpp"

namespace imgbuild::customize {

// Runs `argv` in the sandbox with the root as /, failing with `what`, the status and the output's tail.
void run_in_root(const std::filesystem::path& root, const std::vector<std::string>& argv, const std::string& what,
                 const CustomizeOptions& options,
                 std::vector<std::pair<std::filesystem::path, std::filesystem::path>> read_only = {});

// A user's or group's id by name in the root's /etc/passwd or /etc/group; numbers pass through.
std::optional<unsigned> account_id(const RootDir& root, const std::string& name, bool group);

// ostree's grub.d script replaced by one whose entries boot under BIOS and UEFI; /etc/default/grub.
void install_grub_hook(const recipe::Recipe& recipe, RootDir& tree);
// A bootable image's first boot: the root grows to its disk (systemd-repart + systemd-growfs), cloud-init
// reads the datasources of image.platform, the ESP is not auto-mounted. Files the recipe brings win.
void prepare_first_boot(const recipe::Recipe& recipe, RootDir& tree);
// The recipe's files. A path that is a directory in the image, or that leads (through a link) under
// /proc, /sys, /dev, /run, /tmp or /boot, is a RecipeError at the file's path.
void write_files(const recipe::Recipe& recipe, RootDir& root);
// The overlays over the root in order: links made as links, files and directories root's, a mode
// or an owner never set through a link.
void copy_overlays(const recipe::Recipe& recipe, RootDir& root);
void apply_users(const recipe::Recipe& recipe, RootDir& root, const CustomizeOptions& options);
void write_sysctl(const recipe::Recipe& recipe, RootDir& root);
void write_modules_load(const recipe::Recipe& recipe, RootDir& root);
void apply_units(const recipe::Recipe& recipe, const RootDir& root, const CustomizeOptions& options);
void write_os_release(const recipe::Recipe& recipe, RootDir& root, const CustomizeOptions& options);
void reset_machine_id(RootDir& root);
void run_postprocess(const recipe::Recipe& recipe, const RootDir& root, const CustomizeOptions& options);
std::vector<std::string> minimize(const recipe::Recipe& recipe, RootDir& root);

// The kernel moved where ostree looks for it (/usr/lib/modules/<version>/vmlinuz, with its config and
// System.map; what a link there leads to in the root, not the link), modules.dep made when missing.
void place_kernel(const Kernel& kernel, RootDir& root, const CustomizeOptions& options);
// dracut's initramfs at /usr/lib/modules/<version>/initramfs.img, from the cache when what dracut
// reads is the same (its arguments and configuration, the kernel, the root's paths, the content of the
// files it copies). Returns true when it came from the cache.
bool build_initramfs(const recipe::Recipe& recipe, const Kernel& kernel, const std::filesystem::path& root,
                     const CustomizeOptions& options);

// /etc → /usr/etc, /var → tmpfiles.d, package databases under /usr, the top-level symlinks ostree
// expects, an empty /boot; then checks the result.
void ostree_layout(RootDir& root);
// The image's Python bytecode validated by its source's hash, not its mtime, which ostree does not keep.
void python_bytecode(const RootDir& root, const CustomizeOptions& options);
void validate_layout(const RootDir& root);

} // namespace imgbuild::customize
