#pragma once
// A root directory written into an ostree repository as a tree: every file's content object (its
// checksum computed in parallel, written only when the repository lacks it), a dirmeta object per
// directory, and the dirtree objects of the whole.

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "wrap/glib.hpp"

namespace imgbuild::commit {

struct TreeStats {
    std::size_t files = 0;    // regular files and symlinks (hardlinked names counted once)
    std::size_t written = 0;  // content objects the repository did not have
    std::size_t linked = 0;   // files that are hardlinks of the repository's objects (not read)
    std::size_t checked = 0;  // objects the repository had, checksummed before the tree used them
    std::size_t replaced = 0; // of those, damaged ones written again from the root's file
    std::size_t directories = 0;
    bool rewritten = false; // the tree was written a second time, after damaged metadata was removed
};

// ostree's content checksum, the name of a file's object: SHA-256 over the file header (the GVariant
// (uuuusa(ayay)) of owner, group, mode, 0, symlink target and extended attributes, after its length as
// a big-endian 32-bit number and four zero bytes, as libostree's _ostree_file_header_new writes it),
// then the content of a regular file. Computed with OpenSSL (SHA-NI) instead of libostree's GLib
// checksums, several times faster. `fd`: the open regular file (read from its start), or -1 for a
// symlink. Throws CommitError naming `path` when it cannot be read.
std::string content_checksum(const struct stat& info, GVariant* xattrs, const std::string& symlink_target, int fd,
                             const std::filesystem::path& path);

// The extended attributes of `path` as ostree stores them: a(ayay), names with their NUL, sorted.
wrap::GVariantPtr read_xattrs(const std::filesystem::path& path);

// An object of a bare repository that is not what its name says.
struct DamagedObject {
    std::string checksum;
    std::string kind;   // file, dirtree, dirmeta, commit
    std::string path;   // in the tree, when known
    std::string reason; // "its content changed", "it is missing", ...
};

struct ObjectCheck {
    std::size_t objects = 0;
    std::uint64_t bytes = 0; // content read
    std::vector<DamagedObject> damaged;
};

// Checks every object the commit `checksum` reaches in the bare repository `repo` against its name:
// the commit, its dirtree and dirmeta objects (SHA-256 of their bytes) and, unless `metadata_only`,
// every content object (content_checksum, on all cores). A missing object counts as damaged.
ObjectCheck check_commit_objects(OstreeRepo* repo, const std::string& checksum, bool metadata_only = false);

// Removes objects of a bare repository (for damaged ones: ostree would otherwise trust them).
void remove_objects(OstreeRepo* repo, const std::vector<DamagedObject>& objects);

// Writes `root` into `repo` (inside a transaction the caller opened) and returns the root of the
// written tree (an OstreeRepoFile) for ostree_repo_write_commit. With `adopt` (bare repositories),
// a file the repository lacks becomes its object by a hardlink instead of a copy: the root's files
// then are the repository's objects, with the rules of a hardlinked checkout. A content object the
// bare repository already has is checksummed before the tree uses it (a damaged one is written again
// from the root's file), and so are the tree's dirtree and dirmeta objects after the write (damaged
// ones are removed and the tree written again).
wrap::GObjectPtr<GFile> write_tree(OstreeRepo* repo, const std::filesystem::path& root, unsigned parallel,
                                   TreeStats& stats, bool adopt = false);

} // namespace imgbuild::commit
