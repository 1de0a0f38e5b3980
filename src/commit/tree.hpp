#pragma once
// A root directory written into an ostree repository as a tree: every file's content object (its
// checksum computed in parallel, written only when the repository lacks it), a dirmeta object per
// directory, and the dirtree objects of the whole.

#include <filesystem>
#include <string>

#include "wrap/glib.hpp"

namespace imgbuild::commit {

struct TreeStats {
    std::size_t files = 0;   // regular files and symlinks (hardlinked names counted once)
    std::size_t written = 0; // content objects the repository did not have
    std::size_t linked = 0;  // files that are hardlinks of the repository's objects (not read)
    std::size_t directories = 0;
};

// Writes `root` into `repo` (inside a transaction the caller opened) and returns the root of the
// written tree (an OstreeRepoFile) for ostree_repo_write_commit. With `adopt` (bare repositories),
// a file the repository lacks becomes its object by a hardlink instead of a copy: the root's files
// then are the repository's objects, with the rules of a hardlinked checkout.
wrap::GObjectPtr<GFile> write_tree(OstreeRepo* repo, const std::filesystem::path& root, unsigned parallel,
                                   TreeStats& stats, bool adopt = false);

} // namespace imgbuild::commit
