// imgbuild fetch RECIPE|LOCK: fills the cache with every locked package, verified.

#include <iostream>

#include "../command.hpp"
#include "imgbuild/pipeline/pipeline.hpp"
#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::cli {
namespace {

struct Fetch final : Command {
    std::string path;

    void setup(CLI::App& command) override {
        command.add_option("RECIPE|LOCK", path, "A recipe (its lock:, or a fresh resolve) or a lockfile (.json)")
            ->required();
        command.footer("Prints the cache directory on stdout. --offline checks that everything is cached.");
    }

    int run(const GlobalOptions& global) override {
        auto context = global.pipeline_context();
        resolve::Lock lock = path.ends_with(".json")
                                 ? resolve::read_lock(path)
                                 : pipeline::lock_for(recipe::load(path, global.load_options()), context);
        pipeline::fetch_packages(lock, context);
        std::cout << context.cache_dir.string() << '\n';
        return 0;
    }
};

} // namespace

std::unique_ptr<Command> make_fetch() { return std::make_unique<Fetch>(); }

} // namespace imgbuild::cli
