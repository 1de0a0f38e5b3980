// imgbuild validate RECIPE...: loads each recipe the way a build would and reports every mistake.

#include <fmt/format.h>

#include "../command.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/log.hpp"

namespace imgbuild::cli {
namespace {

struct Validate final : Command {
    std::vector<std::string> recipes;

    void setup(CLI::App& command) override {
        command.add_option("RECIPE", recipes, "Recipe files (a file without name: is checked as a profile)")
            ->required();
        command.footer("Exit code 0 when every recipe is valid, 2 when any has a mistake.");
    }

    int run(const GlobalOptions& global) override {
        int exit_code = 0;
        for (const auto& path : recipes) {
            try {
                auto loaded = recipe::load(path, global.load_options());
                const auto& json = loaded.json();
                auto files = loaded.files().size();
                std::string read = fmt::format("{} file{}", files, files == 1 ? "" : "s");
                if (loaded.is_profile())
                    log::info("{}: valid profile ({} read)", path, read);
                else
                    log::info("{}: valid recipe '{}' ({} packages, {} read)", path, loaded.name(),
                              json.value("packages", nlohmann::json::array()).size(), read);
            } catch (const RecipeError& e) {
                print_diagnostics(e.diagnostics());
                exit_code = static_cast<int>(e.exit_code());
            }
        }
        return exit_code;
    }
};

} // namespace

std::unique_ptr<Command> make_validate() { return std::make_unique<Validate>(); }

} // namespace imgbuild::cli
