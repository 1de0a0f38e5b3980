// What a bootable image needs of its first boot on an instance, whatever the recipe: the root partition
// and its filesystem grow to the disk they boot from (systemd-repart, then systemd-growfs), cloud-init
// reads the datasources of the platforms the recipe names and no others, and no generator mounts the
// ESP (ostree owns /boot; the ESP holds only GRUB). Each file is written only when the recipe does not
// bring its own: files: and overlays: come after this step and replace what it wrote.

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "imgbuild/core/log.hpp"
#include "imgbuild/core/root_dir.hpp"
#include "steps.hpp"

namespace imgbuild::customize {
namespace {

// systemd-repart grows the existing partition of this type into the free space after it (the disk
// image's root is the last partition, of the root type for x86-64); it changes nothing once the
// partition ends at the disk's end, so every later boot finds no work.
constexpr std::string_view repart_root =
    R"(# imgbuild: the root partition fills the disk it boots from (systemd-repart.service, at every boot;
# nothing happens once it does). systemd-repart grows an existing partition of this type into the free
# space after it; imgbuild-grow-root.service then grows the filesystem.
[Partition]
Type=root
)";

// systemd 252's growfs template comes only from fstab's x-systemd.growfs, and ostree mounts the root in
// the initrd (no fstab line): this unit runs the same tool on the root after repart grew its partition.
// It resizes a mounted ext4 in place; on a filesystem that already fills its partition it does nothing.
constexpr std::string_view grow_unit = R"([Unit]
Description=Grow the root filesystem to its partition
Documentation=man:systemd-growfs(8) man:systemd-repart(8)
DefaultDependencies=no
After=systemd-repart.service systemd-remount-fs.service
Before=sysinit.target shutdown.target
Conflicts=shutdown.target
ConditionVirtualization=!container

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={} /
)";

// cloud-init's datasource for each image.platform: ECS's metadata service, the config drive Tencent
// attaches to CVM instances of imported images, and NoCloud's seed disk (label cidata) for QEMU.
constexpr std::pair<std::string_view, std::string_view> datasources[] = {
    {"ecs", "AliYun"}, {"cvm", "ConfigDrive"}, {"qemu", "NoCloud"}};

std::string first_existing(const RootDir& tree, std::initializer_list<const char*> paths) {
    for (const char* path : paths)
        if (tree.exists(path)) return path;
    return {};
}

void write_unless_present(RootDir& tree, const std::filesystem::path& path, std::string_view content) {
    if (tree.lstat(path)) return;
    tree.write(path, content, {0644});
}

void install_root_growth(RootDir& tree) {
    std::string repart = first_existing(tree, {"usr/bin/systemd-repart", "bin/systemd-repart"});
    std::string growfs = first_existing(tree, {"usr/lib/systemd/systemd-growfs", "lib/systemd/systemd-growfs"});
    std::string repart_unit = first_existing(
        tree, {"usr/lib/systemd/system/systemd-repart.service", "lib/systemd/system/systemd-repart.service"});
    if (repart.empty() || growfs.empty() || repart_unit.empty()) {
        log::warn("the root does not grow to the instance's disk on first boot: the image has no systemd-repart "
                  "and systemd-growfs (systemd 250 or later)");
        return;
    }
    write_unless_present(tree, "usr/lib/repart.d/50-imgbuild-root.conf", repart_root);
    write_unless_present(tree, "usr/lib/systemd/system/imgbuild-grow-root.service",
                         fmt::format(grow_unit, "/" + growfs));
    // Enabled as systemd-repart.service is, by the vendor's sysinit.target.wants.
    for (const char* unit : {"systemd-repart.service", "imgbuild-grow-root.service"}) {
        std::filesystem::path link = std::filesystem::path("usr/lib/systemd/system/sysinit.target.wants") / unit;
        if (tree.lstat(link)) continue;
        tree.create_directories(link.parent_path());
        tree.create_symlink(std::filesystem::path("..") / unit, link);
    }
}

void configure_cloud_init(const recipe::Recipe& recipe, RootDir& tree) {
    if (!tree.exists("etc/cloud/cloud.cfg")) return;
    std::vector<std::string> platforms = {"qemu"};
    const auto& document = recipe.json();
    if (document.contains("image") && document["image"].contains("platform"))
        platforms = document["image"]["platform"].get<std::vector<std::string>>();
    std::vector<std::string> list;
    for (const auto& [platform, datasource] : datasources)
        if (std::find(platforms.begin(), platforms.end(), platform) != platforms.end()) list.emplace_back(datasource);
    bool grows = tree.exists("usr/lib/systemd/system/imgbuild-grow-root.service");
    std::string text = fmt::format(
        "# imgbuild: the datasources of the platforms this image is built for (image.platform: {}). With more\n"
        "# than one, ds-identify looks for each at boot and turns cloud-init off when none is there, so a boot\n"
        "# without user data waits for no metadata service; with one, cloud-init always runs with it.\n"
        "datasource_list: [{}]\n",
        fmt::join(platforms, ", "), fmt::join(list, ", "));
    // cloud-init's locale module runs update-locale, which fails on a node without locale data (docs:
    // false drops it) and fails cloud-config.service; a node's locale is the image's, not the user data's.
    text += "# The locale is the image's: its locale module would fail on a node without locale data.\n"
            "locale: false\n";
    if (grows)
        text += "# The root partition and filesystem are grown by systemd-repart and imgbuild-grow-root.service,\n"
                "# before cloud-init starts: its own growpart and resizefs have nothing to do.\n"
                "growpart:\n  mode: 'off'\nresize_rootfs: false\n";
    write_unless_present(tree, "etc/cloud/cloud.cfg.d/95-imgbuild-platform.cfg", text);
}

} // namespace

void prepare_first_boot(const recipe::Recipe& recipe, RootDir& tree) {
    install_root_growth(tree);
    configure_cloud_init(recipe, tree);
    // systemd-gpt-auto-generator mounts the ESP it finds on the root's disk at /efi or /boot: ostree
    // owns /boot and the deployment's / is immutable, so under BIOS it fails at every boot ("Failed to
    // set up automount EFI System Partition Automount"). The root comes from root=, not from it.
    if (!tree.lstat("etc/systemd/system-generators/systemd-gpt-auto-generator")) {
        tree.create_directories("etc/systemd/system-generators");
        tree.create_symlink("/dev/null", "etc/systemd/system-generators/systemd-gpt-auto-generator");
    }
}

} // namespace imgbuild::customize
