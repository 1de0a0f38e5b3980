// imgbuild diff OLD NEW: what changed between two lockfiles.

#include <iostream>

#include <nlohmann/json.hpp>

#include "../command.hpp"
#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::cli {
namespace {

struct Diff final : Command {
    std::string before, after;
    bool json = false;

    void setup(CLI::App& command) override {
        command.add_option("OLD", before, "The older lockfile")->required();
        command.add_option("NEW", after, "The newer lockfile")->required();
        command.add_flag("--json", json, "Print the changes as JSON");
    }

    int run(const GlobalOptions&) override {
        auto diff = resolve::diff_locks(resolve::read_lock(before), resolve::read_lock(after));
        if (json) {
            auto list = [](const std::vector<resolve::PackageChange>& changes) {
                nlohmann::json array = nlohmann::json::array();
                for (const auto& c : changes)
                    array.push_back(
                        {{"name", c.name}, {"arch", c.arch}, {"old", c.old_version}, {"new", c.new_version}});
                return array;
            };
            std::cout << nlohmann::json{{"added", list(diff.added)},
                                        {"removed", list(diff.removed)},
                                        {"upgraded", list(diff.upgraded)},
                                        {"downgraded", list(diff.downgraded)},
                                        {"rebuilt", list(diff.changed)}}
                             .dump(2)
                      << '\n';
        } else {
            std::cout << resolve::format_diff(diff);
        }
        return 0;
    }
};

} // namespace

std::unique_ptr<Command> make_diff() { return std::make_unique<Diff>(); }

} // namespace imgbuild::cli
