// imgbuild kernel-check KCONFIG|RECIPE: a kernel's config against the kernel-config/ fragments; for a
// recipe, its kernel (read from the locked packages, nothing installed) against everything the recipe
// asks of it: kernel.config-require, modules-load, initramfs.drivers and the sysctl keys.

#include <iostream>

#include <fmt/format.h>

#include "../command.hpp"
#include "imgbuild/customize/customize.hpp"
#include "imgbuild/customize/kernel.hpp"
#include "imgbuild/pipeline/pipeline.hpp"

namespace imgbuild::cli {
namespace {

namespace fs = std::filesystem;

bool is_recipe(const fs::path& path) { return path.extension() == ".yaml" || path.extension() == ".yml"; }

// kernel-config/*.config of the working directory, else of the installed data directory.
std::vector<fs::path> default_fragments() {
    std::vector<fs::path> dirs{"kernel-config"};
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) dirs.push_back(exe.parent_path().parent_path() / "share/imgbuild/kernel-config");
    for (const auto& dir : dirs) {
        std::vector<fs::path> fragments;
        for (const auto& entry : fs::directory_iterator(dir, ec))
            if (entry.path().extension() == ".config") fragments.push_back(entry.path());
        std::sort(fragments.begin(), fragments.end());
        if (!fragments.empty()) return fragments;
    }
    throw UsageError("Failed to find kernel-config/*.config here or in imgbuild's data directory; name the "
                     "fragments with --fragment FILE");
}

bool kernel_package(const std::string& name) {
    return name.starts_with("linux-image") || name.starts_with("linux-modules") || name == "kernel" ||
           name.starts_with("kernel-core") || name.starts_with("kernel-modules");
}

struct KernelCheck final : Command {
    std::string target;
    std::vector<std::string> fragments;

    void setup(CLI::App& command) override {
        command.add_option("KCONFIG|RECIPE", target, "A kernel config (/boot/config-*) or a recipe (.yaml)")
            ->required();
        command
            .add_option("--fragment", fragments,
                        "A config fragment (CONFIG_X=y|m lines) to check against; repeatable. Default: the "
                        "recipe's kernel.config-require, or kernel-config/*.config")
            ->type_name("FILE");
        command.footer(
            "Lists what is missing. Exit codes: 0 all present, 1 something required is absent, 2 bad input.");
    }

    // Prints the options `config` lacks of each fragment; returns how many.
    static std::size_t check_fragments(const customize::KernelConfig& config, const std::vector<fs::path>& files) {
        std::size_t missing_count = 0;
        for (const auto& file : files) {
            auto requirements = customize::read_config_fragment(file);
            auto missing = customize::missing_options(config, requirements);
            missing_count += missing.size();
            if (missing.empty()) {
                std::cout << fmt::format("{}: all {} options present\n", readable_path(file), requirements.size());
            } else {
                std::cout << fmt::format("{}: {} of {} options missing\n", readable_path(file), missing.size(),
                                         requirements.size());
                for (const auto& line : missing) std::cout << "  " << line << '\n';
            }
        }
        return missing_count;
    }

    int run(const GlobalOptions& global) override {
        std::vector<fs::path> extra(fragments.begin(), fragments.end());
        if (!is_recipe(target)) {
            auto config = customize::read_kernel_config(target);
            if (config.empty()) throw UsageError("'{}' is not a kernel config: it sets no CONFIG_ option", target);
            return check_fragments(config, extra.empty() ? default_fragments() : extra) == 0 ? 0 : 1;
        }

        auto recipe = recipe::load(target, global.load_options());
        auto context = global.pipeline_context();
        auto lock = pipeline::lock_for(recipe, context);
        std::erase_if(lock.packages, [](const auto& package) { return !kernel_package(package.name); });
        if (lock.packages.empty())
            throw UsageError("'{}' installs no kernel package (linux-image-*, kernel, kernel-core)", target);
        auto fetched = pipeline::fetch_packages(lock, context);
        auto kernel = customize::kernel_from_packages(fetched.files);
        std::vector<std::string> names;
        for (const auto& package : lock.packages) names.push_back(package.name + " " + package.version);
        std::cout << fmt::format("kernel {} ({})\n", kernel.version, fmt::join(names, ", "));

        std::size_t problems = 0;
        if (!extra.empty()) {
            if (!kernel.config) throw Error("Failed to check: kernel {} ships no config", kernel.version);
            problems += check_fragments(*kernel.config, extra);
        }
        auto findings = customize::kernel_findings(recipe, kernel);
        for (const auto& finding : findings) std::cout << finding.str() << '\n';
        problems += findings.size();
        if (problems == 0)
            std::cout << fmt::format("the recipe's kernel requirements, modules and sysctl keys are all met ({} "
                                     "modules, {} options known)\n",
                                     kernel.modules.size(), kernel.config ? kernel.config->size() : 0);
        return problems == 0 ? 0 : 1;
    }
};

} // namespace

std::unique_ptr<Command> make_kernel_check() { return std::make_unique<KernelCheck>(); }

} // namespace imgbuild::cli
