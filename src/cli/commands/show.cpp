// imgbuild show RECIPE: the merged recipe as JSON on stdout, what every later stage sees.

#include <iostream>

#include "../command.hpp"

namespace imgbuild::cli {
namespace {

struct Show final : Command {
    std::string path;

    void setup(CLI::App& command) override {
        command.add_option("RECIPE", path, "Recipe file")->required();
        command.footer("Includes are merged, variables expanded and relative paths made absolute.");
    }

    int run(const GlobalOptions& global) override {
        auto loaded = recipe::load(path, global.load_options());
        std::cout << loaded.json().dump(2) << '\n';
        return 0;
    }
};

} // namespace

std::unique_ptr<Command> make_show() { return std::make_unique<Show>(); }

} // namespace imgbuild::cli
