// imgbuild build RECIPE [-o OUTDIR]: every stage, into the output bundle (repo/, builds/<version>/,
// builds/latest).

#include <iostream>

#include "../command.hpp"
#include "imgbuild/pipeline/pipeline.hpp"

namespace imgbuild::cli {
namespace {

struct Build final : Command {
    std::string path;
    std::string outdir = "out";
    bool force = false;

    void setup(CLI::App& command) override {
        command.add_option("RECIPE", path, "Recipe file")->required();
        command.add_option("-o,--output", outdir, "The output bundle")->capture_default_str()->type_name("OUTDIR");
        command.add_flag("--force", force, "Build again even when the inputs equal the last build's");
        command.footer(
            "Resolves, fetches, installs, customizes and commits the recipe into OUTDIR/repo (the ref's previous\n"
            "commit as parent), then makes its disk images into OUTDIR/builds/<version>/ with manifest.json,\n"
            "lock.json and sbom.spdx.json, and points OUTDIR/builds/latest at it. Unchanged inputs reuse the\n"
            "last commit and its images. Needs root. Prints the build's directory on stdout.");
    }

    int run(const GlobalOptions& global) override {
        auto recipe = recipe::load(path, global.load_options());
        if (recipe.is_profile()) throw UsageError("'{}' is a profile (it has no name:), not a recipe to build", path);
        auto outcome = pipeline::build_recipe(recipe, outdir, global.pipeline_context(), force);
        std::cout << outcome.build_dir.string() << '\n';
        return 0;
    }
};

} // namespace

std::unique_ptr<Command> make_build() { return std::make_unique<Build>(); }

} // namespace imgbuild::cli
