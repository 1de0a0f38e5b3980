#pragma once
// The installed-set cache's policy: a root's installed packages are the cached set of the same key,
// else the nearest cached set upgraded to the lock, else a fresh install; a set made now is stored for
// the next build. (The storage itself is the commit stage's tree cache.)

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "imgbuild/commit/commit.hpp"
#include "imgbuild/install/install.hpp"
#include "imgbuild/pipeline/pipeline.hpp"

namespace imgbuild::pipeline {

// A cached set to upgrade to a lock instead of installing afresh.
struct NearestSet {
    std::string ref;                // the cached tree's ref
    std::vector<std::string> lines; // its packages (package_lines)
    install::SetChanges changes;    // what the upgrade to the lock unpacks (nothing is removed)
};

// The cached set nearest the lock (the fewest packages to add or change, none to remove) among `trees`
// installed with the install settings whose digest is `settings`. None when no set is near enough (a
// fresh install is then about as fast and starts clean: more than max(8, a fifth of the lock) changes)
// or one equals the lock under another key.
std::optional<NearestSet> nearest_set(const std::vector<commit::CachedTree>& trees, const std::string& settings,
                                      const resolve::Lock& lock);

// How installed_root got the packages.
enum class Installed { reused, upgraded, installed };

// The lock's packages installed at `dir` (which must not exist), through the tree cache, and the set
// stored in it when it was not there. With `shared`, the root's files are the cache's (hardlinks).
// `changes` (against the last build) explains a cache miss in the notes.
Installed installed_root(const recipe::Recipe& recipe, const resolve::Lock& lock, const std::filesystem::path& dir,
                         const Context& context, bool shared, const InputChanges* changes);

} // namespace imgbuild::pipeline
