// imgbuild lock RECIPE [-o LOCK] [--update PKG…]: resolves the package set and writes the lockfile.

#include <iostream>

#include <fmt/format.h>

#include "../command.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/resolve/resolve.hpp"

namespace imgbuild::cli {
namespace {

struct LockCommand final : Command {
    std::string path;
    std::string output;
    std::vector<std::string> update;

    void setup(CLI::App& command) override {
        command.add_option("RECIPE", path, "Recipe file")->required();
        command
            .add_option("-o,--output", output,
                        "Where to write the lock (default: the recipe's lock: file, else RECIPE.lock.json beside it)")
            ->type_name("LOCK");
        command
            .add_option("--update", update,
                        "Re-resolve only these packages (and what they need); the rest stays as in the existing lock")
            ->type_name("PKG");
        command.footer("Prints the lock's path on stdout. Exit code 2 when the package set cannot be resolved.");
    }

    int run(const GlobalOptions& global) override {
        auto recipe = recipe::load(path, global.load_options());
        std::filesystem::path out = output;
        if (out.empty()) {
            if (recipe.json().contains("lock"))
                out = recipe.json().at("lock").get<std::string>();
            else
                out = std::filesystem::path(path).replace_extension(".lock.json");
        }
        resolve::ResolveOptions options{global.cache(), global.offline, global.jobs, nullptr, {}};
        std::optional<resolve::Lock> previous;
        if (!update.empty()) {
            if (!std::filesystem::exists(out))
                throw UsageError("--update needs an existing lock, and '{}' does not exist", out.string());
            previous = resolve::read_lock(out);
            options.previous = &*previous;
            options.update = update;
        }
        auto lock = resolve::resolve(recipe, options);
        resolve::write_lock(lock, out);
        std::uint64_t bytes = 0;
        for (const auto& package : lock.packages) bytes += package.size;
        log::info("locked {} packages ({:.1f} MiB to download) in {}", lock.packages.size(),
                  static_cast<double>(bytes) / (1 << 20), out.string());
        if (previous) {
            auto changes = resolve::format_diff(resolve::diff_locks(*previous, lock));
            log::info("{}", changes.empty() ? "no package changed" : changes.substr(0, changes.size() - 1));
        }
        std::cout << out.string() << '\n';
        return 0;
    }
};

} // namespace

std::unique_ptr<Command> make_lock() { return std::make_unique<LockCommand>(); }

} // namespace imgbuild::cli
