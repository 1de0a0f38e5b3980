// imgbuild build RECIPE [-o OUTDIR] [--test]: every stage, into the output bundle (repo/,
// builds/<version>/, builds/latest), and with --test the boot test last.

#include <iostream>

#include <fmt/format.h>

#include "../command.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/pipeline/pipeline.hpp"

namespace imgbuild::cli {
namespace {

struct Build final : Command {
    std::string path;
    std::string outdir = "out";
    pipeline::BuildOptions options;
    bool explain = false;

    void setup(CLI::App& command) override {
        command.add_option("RECIPE", path, "Recipe file")->required();
        command.add_option("-o,--output", outdir, "The output bundle")->capture_default_str()->type_name("OUTDIR");
        command.add_flag("--force", options.force, "Build again even when the inputs equal the last build's");
        command.add_flag(
            "--test", options.test,
            "Boot-test the images as the last stage (imgbuild test) and record the result in manifest.json");
        command
            .add_option("--accel", options.test_accel, "With --test: auto (KVM when a probe shows it works), kvm, tcg")
            ->check(CLI::IsMember({"auto", "kvm", "tcg"}))
            ->capture_default_str();
        command.add_option("--boot-timeout", options.test_boot_timeout, "With --test: seconds each boot may take")
            ->capture_default_str();
        command.add_flag("--explain", explain,
                         "Say on stderr, per stage, whether its last result was reused and, if not, what changed");
        command.footer(
            "Resolves, fetches, installs, customizes and commits the recipe into OUTDIR/repo (the ref's previous\n"
            "commit as parent), then makes its disk images into OUTDIR/builds/<version>/ with manifest.json,\n"
            "lock.json and sbom.spdx.json, and points OUTDIR/builds/latest at it. Unchanged inputs reuse the\n"
            "last commit and its images; every stage reuses what it made from the same inputs before (the\n"
            "installed packages, the initramfs, unchanged files); --explain says which. With --test the images\n"
            "boot under QEMU and pass the recipe's checks before builds/latest moves to them; a build that\n"
            "fails them exits 1 and stays for its logs.\n"
            "Needs root. Prints the build's directory on stdout.");
    }

    int run(const GlobalOptions& global) override {
        auto recipe = recipe::load(path, global.load_options());
        if (recipe.is_profile()) throw UsageError("'{}' is a profile (it has no name:), not a recipe to build", path);
        auto outcome = pipeline::build_recipe(recipe, outdir, global.pipeline_context(), options);
        if (!outcome.test_report.empty()) std::cerr << outcome.test_report;
        if (explain)
            for (const auto& note : outcome.notes)
                std::cerr << fmt::format("{:<10} {:<8} {}\n", note.stage, note.action, note.why);
        std::cout << outcome.build_dir.string() << '\n';
        if (options.test && !outcome.test_passed) {
            log::error("{} failed its boot test; builds/latest was not moved to it", outcome.build_dir.string());
            return static_cast<int>(ExitCode::failed);
        }
        return 0;
    }
};

} // namespace

std::unique_ptr<Command> make_build() { return std::make_unique<Build>(); }

} // namespace imgbuild::cli
