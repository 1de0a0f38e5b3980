// The node's side of the boot menu: ostree's grub2 backend runs grub-mkconfig after every deployment
// change (upgrade, rollback), and grub-mkconfig runs /etc/grub.d/15_ostree for ostree's entries. The
// ostree-boot package's script writes linux16 (BIOS) or linuxefi (UEFI) commands; imgbuild's disks boot
// both ways from one grub.cfg and Debian's x86_64-efi GRUB has neither, so the image gets this hook,
// which writes the plain linux/initrd both GRUBs have.

#include <fmt/format.h>

#include "imgbuild/core/log.hpp"
#include "imgbuild/core/root_dir.hpp"
#include "steps.hpp"

namespace imgbuild::customize {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view hook = R"hook(#!/bin/sh
# imgbuild's 15_ostree: GRUB menu entries for ostree's deployments, run by grub-mkconfig when ostree
# writes a boot configuration (ostree admin upgrade, deploy, undeploy). It replaces ostree-boot's
# script, whose linux16/linuxefi commands Debian's UEFI GRUB lacks: one grub.cfg serves the BIOS and
# the UEFI GRUB of the disk, so it uses plain linux/initrd.
set -e
. /usr/share/grub/grub-mkconfig_lib

bootversion=${_OSTREE_GRUB2_BOOTVERSION:-}
if [ -z "$bootversion" ]; then
    loader=$(readlink /boot/loader || true)
    bootversion=${loader#loader.}
fi
entries=/boot/loader.$bootversion/entries
[ -d "$entries" ] || exit 0

# Paths in the entries are relative to /boot; GRUB reads them on /boot's filesystem.
boot_dir=$(make_system_path_relative_to_its_root /boot)
[ "$boot_dir" = "/" ] && boot_dir=
prepare=$(prepare_grub_to_access_device "${GRUB_DEVICE_BOOT:-$GRUB_DEVICE}" | sed 's/^/    /')

field() { sed -n "s/^$1[[:space:]]\{1,\}//p" "$2" | head -n 1; }
# One word single-quoted for GRUB, whose script lexer would read $, ;, quotes and braces in a kernel
# argument as its own syntax (GRUB removes the quotes before the kernel sees the word).
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

for conf in "$entries"/*.conf; do
    [ -f "$conf" ] || continue
    version=$(field version "$conf")
    echo "${version:-0} $conf"
done | sort -rn -k1,1 | while read -r version conf; do
    title=$(field title "$conf" | sed "s/'/'\\\\''/g")
    linux=$(field linux "$conf")
    initrd=$(field initrd "$conf")
    options=$(field options "$conf")
    echo "menuentry '${title:-ostree}' --class gnu-linux --class os {"
    echo "    insmod gzio"
    echo "$prepare"
    args=
    set -f
    for word in $options; do args="$args $(quote "$word")"; done
    set +f
    echo "    linux $(quote "${boot_dir}${linux}")${args}"
    [ -z "$initrd" ] || echo "    initrd $(quote "${boot_dir}${initrd}")"
    echo "}"
done
)hook";

} // namespace

void install_grub_hook(const recipe::Recipe& recipe, RootDir& tree) {
    // Only for images that carry both ostree's grub.d script and grub-mkconfig: others have no GRUB
    // integration to fix (an image without grub-mkconfig cannot regenerate its menu on the node).
    bool ostree_script = tree.lstat("etc/grub.d/15_ostree").has_value();
    bool mkconfig = tree.exists("usr/sbin/grub-mkconfig");
    if (!ostree_script) return;
    if (!mkconfig) {
        log::warn("the image has ostree's GRUB script but no grub-mkconfig (package grub-common): nodes cannot "
                  "update their boot menu after an upgrade");
        return;
    }
    // Written in place of the package's (a link there is replaced, never written through).
    tree.write("etc/grub.d/15_ostree", hook, {0755});

    // grub-mkconfig's settings, unless the recipe brings its own (files: and overlays: come after).
    if (!tree.lstat("etc/default/grub")) {
        std::string name = recipe.name();
        tree.write("etc/default/grub",
                   fmt::format("# imgbuild: read by grub-mkconfig, which ostree runs after each deployment change.\n"
                               "GRUB_DEFAULT=0\nGRUB_TIMEOUT=1\nGRUB_DISTRIBUTOR=\"{}\"\n"
                               "GRUB_TERMINAL=\"console serial\"\n"
                               "GRUB_SERIAL_COMMAND=\"serial --unit=0 --speed=115200\"\n"
                               "GRUB_DISABLE_OS_PROBER=true\nGRUB_DISABLE_RECOVERY=true\n",
                               name));
    }
}

} // namespace imgbuild::customize
