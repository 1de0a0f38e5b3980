#pragma once
// The tree cache: storage for roots the pipeline reuses (its policy, which tree to reuse, is in
// src/pipeline/), kept in the commit stage's build repository.

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace imgbuild::commit {

// The tree cache: roots kept in the build repository as commits on refs `imgbuild/cache/KIND/KEY`
// (the installed package set of a lock, under its key) and checked out by hardlinks, the way
// rpm-ostree's pkgcache keeps packages. A checkout by hardlinks shares its files' inodes with the
// repository's objects, and the commit of a root made from one skips those files (their checksums are
// known from their inodes). Whatever changes such a root must replace files (write a new one and
// rename it over), never write through one or change its mode or owner.
enum class CheckoutMode {
    hardlinks, // fast; only for roots imgbuild alone writes into
    copies,    // independent files, for directories handed to the user
};

// Checks out the cached tree `ref` of `build_repo` into `dir` (which must not exist) and marks it
// used. False, with nothing created, when the cache has no such tree.
bool checkout_cached(const std::filesystem::path& build_repo, const std::string& ref, const std::filesystem::path& dir,
                     CheckoutMode mode);

// Writes `root` into `build_repo` as the tree of `ref`, then drops the refs of the same KIND beyond
// the `keep` most recently used (their objects go at the next commit's prune). With `adopt`, the
// root's files become the repository's objects (hardlinks, no copies): the root is then what a
// checkout by hardlinks would give, with its rules.
// `metadata`: strings recorded with the tree (what it was made from), read back by cached_trees.
void store_cached(const std::filesystem::path& build_repo, const std::string& ref, const std::filesystem::path& root,
                  unsigned parallel, std::size_t keep, bool adopt = false,
                  const std::map<std::string, std::string>& metadata = {});

struct CachedTree {
    std::string ref;
    std::string checksum;
    std::map<std::string, std::string> metadata;
};

// The cached trees of refs `imgbuild/cache/KIND/*`, most recently used first.
std::vector<CachedTree> cached_trees(const std::filesystem::path& build_repo, const std::string& kind);

} // namespace imgbuild::commit
