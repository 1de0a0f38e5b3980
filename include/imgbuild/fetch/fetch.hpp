#pragma once
// The fetch stage: every package of a lock into a content-addressed cache, each verified against the
// lock's checksum before it gets its final name.

#include <cstdint>
#include <filesystem>
#include <vector>

#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::fetch {

struct FetchOptions {
    std::filesystem::path cache_dir;
    bool offline = false; // the cache only; missing packages are an error
    unsigned parallel = 4;
    bool progress = false; // a progress line on stderr (for a terminal)
};

struct FetchResult {
    std::vector<std::filesystem::path> files; // the cached file of each lock.packages entry, in order
    std::size_t cached = 0;                   // packages already in the cache (and verified)
    std::size_t downloaded = 0;
    std::uint64_t bytes = 0;            // all packages
    std::uint64_t downloaded_bytes = 0; // transferred in this run
    double seconds = 0;
};

// Where the cache keeps a package: packages/<checksum>-<file name>.
std::filesystem::path cached_package(const std::filesystem::path& cache_dir, const resolve::LockedPackage& package);

// Makes every package of `lock` present and verified in the cache. A cached file whose checksum no longer
// matches is discarded and fetched again. Throws FetchError naming each package that failed.
FetchResult fetch(const resolve::Lock& lock, const FetchOptions& options);

} // namespace imgbuild::fetch
