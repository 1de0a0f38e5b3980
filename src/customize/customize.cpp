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

    // One descriptor of the root for every step: each path a step names is resolved inside it.
    RootDir tree(root);
    std::optional<Kernel> kernel;
    if (has_kernel) {
        check_kernel(recipe, root, options.cache_dir);
        kernel = find_kernel(root);
        result.kernel_version = kernel->version;
    }
    install_grub_hook(recipe, tree);
    if (kernel) prepare_first_boot(recipe, tree);
    write_files(recipe, tree);
    copy_overlays(recipe, tree);
    apply_users(recipe, tree, options);
    apply_units(recipe, tree, options);
    CustomizeOptions unversioned = options;
    unversioned.version.clear();
    write_os_release(recipe, tree, unversioned);
    reset_machine_id(tree);
    if (kernel) {
        place_kernel(*kernel, tree, options);
        kernel = find_kernel(root); // its files moved
        if (document.value("initramfs", nlohmann::json::object()).value("enabled", true)) {
            result.initramfs_cached = build_initramfs(recipe, *kernel, root, options);
            result.initramfs_built = true;
        }
    }
    // The tuning and the build's version after the initramfs. dracut copies sysctl.d, modules-load.d
    // and os-release, and an initramfs with them would be new whenever a value or the version changed;
    // the initramfs needs none of them (systemd applies the tuning after switching to the root).
    write_sysctl(recipe, tree);
    write_modules_load(recipe, tree);
    write_os_release(recipe, tree, options);
    run_postprocess(recipe, tree, options);
    result.removed = minimize(recipe, tree);
    python_bytecode(tree, options);
    ostree_layout(tree);
    validate_layout(tree);
    return result;
}

} // namespace imgbuild::customize
