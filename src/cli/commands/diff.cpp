// imgbuild diff OLD NEW: what changed between two lockfiles, or two commits of an ostree repository
// (their package lists are in the commit metadata, commit::key::packages).

#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "../command.hpp"
#include "imgbuild/commit/commit.hpp"
#include "imgbuild/commit/metadata.hpp"
#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::cli {
namespace {

// The packages of a commit, as a lock without URLs and checksums ("name version arch" each).
resolve::Lock commit_packages(const std::string& repo, const std::string& rev) {
    auto info = commit::read_commit(repo, rev);
    auto format = info.metadata.find(std::string(commit::key::format));
    if (format == info.metadata.end())
        throw UsageError("commit {} ({}) was not made by imgbuild: it has no package list", info.checksum, rev);
    resolve::Lock lock;
    lock.format = format->second;
    for (const auto& line : info.packages) {
        std::istringstream fields(line);
        resolve::LockedPackage package;
        fields >> package.name >> package.version >> package.arch;
        lock.packages.push_back(std::move(package));
    }
    return lock;
}

struct Diff final : Command {
    std::string before, after;
    std::string repo = "repo";
    bool json = false;

    void setup(CLI::App& command) override {
        command.add_option("OLD", before, "The older lockfile, or commit (checksum, ref, REF^ for its parent)")
            ->required();
        command.add_option("NEW", after, "The newer lockfile or commit")->required();
        command.add_option("--repo", repo, "The ostree repository of the commits")->capture_default_str();
        command.add_flag("--json", json, "Print the changes as JSON");
        command.footer("A name that is an existing file is read as a lockfile; anything else as a commit of REPO.");
    }

    resolve::Lock load(const std::string& name) const {
        if (std::filesystem::is_regular_file(name)) return resolve::read_lock(name);
        return commit_packages(repo, name);
    }

    int run(const GlobalOptions&) override {
        auto diff = resolve::diff_locks(load(before), load(after));
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
