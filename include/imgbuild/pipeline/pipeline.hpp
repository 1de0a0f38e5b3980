#pragma once
// The pipeline: the stages called in order, each with the values of the ones before. The CLI's
// commands run a prefix of it (rootfs: up to install) or all of it (build).

#include <filesystem>

#include "imgbuild/fetch/fetch.hpp"
#include "imgbuild/recipe/recipe.hpp"
#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::pipeline {

struct Context {
    std::filesystem::path cache_dir;
    bool offline = false;
    unsigned jobs = 8;
    bool progress = false; // progress lines on stderr
};

// The lock a build uses: the recipe's lock: when it names one (checked against the repos), else a
// fresh resolve.
resolve::Lock lock_for(const recipe::Recipe& recipe, const Context& context);

// Fetches the lock's packages and logs a summary line.
fetch::FetchResult fetch_packages(const resolve::Lock& lock, const Context& context);

// recipe → root filesystem at `dir`. It is built beside it (DIR.partial) and renamed into place when
// complete, so an interrupted run leaves nothing under `dir`; the next run starts over.
void build_rootfs(const recipe::Recipe& recipe, const std::filesystem::path& dir, const Context& context);

} // namespace imgbuild::pipeline
