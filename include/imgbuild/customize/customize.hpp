#pragma once
// The customize stage: an installed root → the image's tree. The recipe's tuning (sysctl,
// modules-load, units, users, files, overlays, postprocess scripts, os-release), checks against the
// kernel, the initramfs, the minimisation a node wants, and finally ostree's layout, validated.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "imgbuild/core/error.hpp"
#include "imgbuild/customize/kernel.hpp"
#include "imgbuild/recipe/recipe.hpp"

namespace imgbuild::customize {

// A step of customizing failed (a script, dracut, systemctl). Exit code 1.
class CustomizeError : public Error {
public:
    using Error::Error;
};

struct CustomizeOptions {
    std::filesystem::path cache_dir; // initramfs images are cached here by the digest of their inputs
    std::string version;             // the build's version, for os-release
    std::int64_t source_date_epoch = 0;
    std::function<void(std::string_view)> on_output; // lines printed by tools and scripts
    // The root's files are hardlinks of the tree cache's objects (commit::CheckoutMode::hardlinks):
    // postprocess scripts then run on a copy-on-write view of it (rofiles-fuse --copyup), so a script
    // that writes into a file or changes its mode changes a copy, never the cache.
    bool shared_files = false;
};

struct CustomizeResult {
    std::string kernel_version; // empty when the image has no kernel
    bool initramfs_built = false;
    bool initramfs_cached = false;    // taken from the cache instead of running dracut
    std::vector<std::string> removed; // what minimisation removed
};

CustomizeResult customize(const recipe::Recipe& recipe, const std::filesystem::path& root,
                          const CustomizeOptions& options);

// Checks the recipe against the root's kernel: its config against kernel.config-require, every
// modules-load and initramfs.drivers module, every sysctl key's subsystem, and every sysctl name
// against the words of the kernel and its modules (cached under `cache_dir`/kernel). Findings name
// the recipe's line and the kernel option or name (RecipeError, exit 2).
void check_kernel(const recipe::Recipe& recipe, const std::filesystem::path& root,
                  const std::filesystem::path& cache_dir = {});
// The same findings, for any kernel (kernel-check reads one from packages).
std::vector<Diagnostic> kernel_findings(const recipe::Recipe& recipe, const KernelFacts& kernel);
// The first segment of a sysctl key that names nothing the kernel has (net.core.somaxcon → "somaxcon");
// segments made at run time (numbers, globs, interface names under conf/neigh, fs.binfmt_misc,
// sched_domain) are not checked. nullopt when every checked segment is known.
std::optional<std::string> unknown_sysctl_segment(const std::string& key, const KernelWords& words);

} // namespace imgbuild::customize
