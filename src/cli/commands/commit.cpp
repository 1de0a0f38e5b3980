// imgbuild commit RECIPE [--repo REPO]: the recipe built and committed to its ref; prints the checksum.

#include <iostream>

#include "../command.hpp"
#include "imgbuild/pipeline/pipeline.hpp"

namespace imgbuild::cli {
namespace {

struct Commit final : Command {
    std::string path;
    std::string repo = "repo";
    bool force = false;

    void setup(CLI::App& command) override {
        command.add_option("RECIPE", path, "Recipe file")->required();
        command.add_option("--repo", repo, "The ostree archive repository (created when missing)")
            ->capture_default_str()
            ->type_name("REPO");
        command.add_flag("--force", force, "Build and commit even when the inputs equal the ref's last commit's");
        command.footer(
            "Builds the root (install, customize) and commits it on the recipe's ostree.ref, the ref's previous\n"
            "commit as parent. When the recipe, the files it names, the locked packages and imgbuild's version\n"
            "are those of the ref's last commit, nothing is built: that commit is reported as unchanged.\n"
            "Needs root. Prints the commit's checksum on stdout.");
    }

    int run(const GlobalOptions& global) override {
        auto recipe = recipe::load(path, global.load_options());
        if (recipe.is_profile()) throw UsageError("'{}' is a profile (it has no name:), not a recipe to build", path);
        auto outcome = pipeline::commit_recipe(recipe, repo, global.pipeline_context(), force);
        std::cout << outcome.checksum << '\n';
        return 0;
    }
};

} // namespace

std::unique_ptr<Command> make_commit() { return std::make_unique<Commit>(); }

} // namespace imgbuild::cli
