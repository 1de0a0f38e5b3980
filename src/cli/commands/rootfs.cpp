// imgbuild rootfs RECIPE -o DIR: the recipe's packages installed into DIR (for looking inside).

#include <iostream>

#include "../command.hpp"
#include "imgbuild/pipeline/pipeline.hpp"

namespace imgbuild::cli {
namespace {

struct Rootfs final : Command {
    std::string path;
    std::string output;

    void setup(CLI::App& command) override {
        command.add_option("RECIPE", path, "Recipe file")->required();
        command.add_option("-o,--output", output, "The directory to create (must not exist, or be empty)")
            ->required()
            ->type_name("DIR");
        command.footer(
            "Resolves (or uses the recipe's lock:), fetches and installs the packages, scripts in a sandbox.\n"
            "Needs root. Prints DIR on stdout.");
    }

    int run(const GlobalOptions& global) override {
        auto recipe = recipe::load(path, global.load_options());
        pipeline::build_rootfs(recipe, output, global.pipeline_context());
        std::cout << output << '\n';
        return 0;
    }
};

} // namespace

std::unique_ptr<Command> make_rootfs() { return std::make_unique<Rootfs>(); }

} // namespace imgbuild::cli
