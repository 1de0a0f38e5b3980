// imgbuild schema: prints the recipe JSON Schema, e.g. for yaml-language-server in an editor.

#include <iostream>

#include "../command.hpp"

namespace imgbuild::cli {
namespace {

struct Schema final : Command {
    void setup(CLI::App&) override {}

    int run(const GlobalOptions&) override {
        std::cout << recipe::schema();
        return 0;
    }
};

} // namespace

std::unique_ptr<Command> make_schema() { return std::make_unique<Schema>(); }

} // namespace imgbuild::cli
