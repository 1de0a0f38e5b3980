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
    write_sysctl(recipe, root);
    write_modules_load(recipe, root);
    apply_units(recipe, root, options);
    // The build's version goes into os-release after the initramfs: dracut copies os-release, and an
    // initramfs that named the version would be new with every build.
    CustomizeOptions unversioned = options;
    unversioned.version.clear();
    write_os_release(recipe, root, unversioned);
    reset_machine_id(root);
    run_postprocess(recipe, root, options);
    if (kernel) {
        place_kernel(*kernel, root, options);
        kernel = find_kernel(root); // its files moved
        if (document.value("initramfs", nlohmann::json::object()).value("enabled", true)) {
            result.initramfs_cached = build_initramfs(recipe, *kernel, root, options);
            result.initramfs_built = true;
        }
    }
    write_os_release(recipe, root, options);
    result.removed = minimize(recipe, root);
    ostree_layout(root);
    validate_layout(root);
    return result;
}

} // namespace imgbuild::customize
