// The customize stage as its list of steps, in the order they must happen: the kernel checks before
// anything changes; files and overlays before units (a unit may come from an overlay); postprocess
// scripts after the tuning they may want to adjust; the initramfs after everything it may pick up;
// minimisation after the last step that may need a shell; the ostree layout last.

#include "imgbuild/customize/customize.hpp"

#include <fmt/format.h>

#include "imgbuild/core/log.hpp"
#include "imgbuild/core/timer.hpp"
#include "steps.hpp"

namespace imgbuild::customize {

CustomizeResult customize(const recipe::Recipe& recipe, const std::filesystem::path& root,
                          const CustomizeOptions& options) {
    ScopedTimer timer("customize");
    const auto& document = recipe.json();
    CustomizeResult result;
    bool has_kernel = document.contains("kernel") && document["kernel"].contains("package");

    std::optional<Kernel> kernel;
    if (has_kernel) {
        check_kernel(recipe, root);
        kernel = find_kernel(root);
        result.kernel_version = kernel->version;
    }
    install_grub_hook(recipe, root);
    write_files(recipe, root);
    copy_overlays(recipe, root);
    apply_users(recipe, root, options);
    apply_units(recipe, root, options);
    CustomizeOptions unversioned = options;
    unversioned.version.clear();
    write_os_release(recipe, root, unversioned);
    reset_machine_id(root);
    if (kernel) {
        place_kernel(*kernel, root, options);
        kernel = find_kernel(root); // its files moved
        if (document.value("initramfs", nlohmann::json::object()).value("enabled", true)) {
            result.initramfs_cached = build_initramfs(recipe, *kernel, root, options);
            result.initramfs_built = true;
        }
    }
    // The tuning and the build's version after the initramfs. dracut copies sysctl.d, modules-load.d
    // and os-release, and an initramfs with them would be new whenever a value or the version changed;
    // the initramfs needs none of them (systemd applies the tuning after switching to the root).
    write_sysctl(recipe, root);
    write_modules_load(recipe, root);
    write_os_release(recipe, root, options);
    run_postprocess(recipe, root, options);
    result.removed = minimize(recipe, root);
    ostree_layout(root);
    validate_layout(root);
    return result;
}

} // namespace imgbuild::customize
