// The tree of a commit. `ostree commit` walks a directory in one thread, checksumming every file
// through GIO; a node root is ~40 000 files, and on a rebuild nearly all of them are objects the
// build repository already has. So the walk is split: one pass collects the entries (stat and
// xattrs), a pool of threads checksums them with ostree's own functions and writes only the objects
// the repository lacks (libostree writes objects from threads itself when pulling), and the tree is
// assembled from the checksums. Extended attributes are sorted by name, so a file's checksum does not
// depend on the order the filesystem lists them in. In a bare repository, a file that is a hardlink
// of one of its objects (a root checked out of the tree cache) is that object: its checksum is the
// object's name, and it is neither read nor written again. Checksums are ostree's content checksums
// computed with OpenSSL (content_checksum); an object the repository already has is checksummed too
// before it is used, since it is a cache's: a damaged one never gets into a commit. The checksums
// and the checks of objects against their names are objects.cpp's; this file walks and writes.

#include "tree.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "imgbuild/commit/commit.hpp"
#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "objects.hpp"

namespace imgbuild::commit {
namespace {

namespace fs = std::filesystem;
using wrap::gcall;
using wrap::gcall_ptr;
using wrap::GObjectPtr;
using wrap::GVariantPtr;

struct Node {
    fs::path path;          // absolute, on the host
    std::string name;       // in its directory ("" for the root)
    std::size_t parent = 0; // index of the directory
    struct stat info {};
    GVariantPtr xattrs;             // a(ayay), sorted by name
    std::string target;             // of a symlink
    std::size_t same_as = SIZE_MAX; // the first name of a hardlinked inode
    std::string checksum;           // content (files) or dirmeta (directories)
};

// What ostree's object functions read of a file: type, owner, mode, size, link target.
GObjectPtr<GFileInfo> file_info(const Node& node) {
    GObjectPtr<GFileInfo> info(g_file_info_new());
    GFileType type = S_ISDIR(node.info.st_mode)   ? G_FILE_TYPE_DIRECTORY
                     : S_ISLNK(node.info.st_mode) ? G_FILE_TYPE_SYMBOLIC_LINK
                                                  : G_FILE_TYPE_REGULAR;
    g_file_info_set_file_type(info.get(), type);
    g_file_info_set_attribute_uint32(info.get(), "unix::uid", node.info.st_uid);
    g_file_info_set_attribute_uint32(info.get(), "unix::gid", node.info.st_gid);
    g_file_info_set_attribute_uint32(info.get(), "unix::mode", node.info.st_mode);
    if (type == G_FILE_TYPE_REGULAR) g_file_info_set_size(info.get(), node.info.st_size);
    if (type == G_FILE_TYPE_SYMBOLIC_LINK) {
        g_file_info_set_is_symlink(info.get(), TRUE);
        g_file_info_set_symlink_target(info.get(), node.target.c_str());
    }
    return info;
}

std::string hex_of(guchar* raw) {
    wrap::GCharPtr hex(ostree_checksum_from_bytes(raw));
    g_free(raw);
    return hex.get();
}

// Makes the file itself the object of a bare repository: objects/XX/YYYY.file is a hardlink of it.
// A bare object is the file as it is, owner, mode and extended attributes included, so this is the
// object ostree would have written as a copy (a regular file's times set to 0, as ostree sets them). False when the
// file cannot be linked there (another filesystem): the caller writes a copy.
bool adopt_file(OstreeRepo* repo, const Node& node) {
    if (ostree_repo_get_mode(repo) != OSTREE_REPO_MODE_BARE) return false;
    int dfd = ostree_repo_get_dfd(repo);
    std::string object = object_path(node.checksum);
    std::string dir = fs::path(object).parent_path().string();
    if (::mkdirat(dfd, dir.c_str(), 0755) != 0 && errno != EEXIST) return false;
    if (::linkat(AT_FDCWD, node.path.c_str(), dfd, object.c_str(), 0) != 0) return errno == EEXIST;
    // Times as ostree gives its objects (0): what is checked out or pulled from here must not depend
    // on whether an object was adopted or written.
    const struct timespec epoch[2] = {{0, 0}, {0, 0}};
    if (S_ISREG(node.info.st_mode)) ::utimensat(AT_FDCWD, node.path.c_str(), epoch, 0);
    return true;
}

// Replaces the file by a hardlink of the bare repository's object of the same checksum (the same
// content, owner, mode and extended attributes), so that later commits know it by its inode.
void link_object(OstreeRepo* repo, const Node& node) {
    if (ostree_repo_get_mode(repo) != OSTREE_REPO_MODE_BARE) return;
    std::string object = object_path(node.checksum);
    fs::path temp = node.path.parent_path() / (".imgbuild-link-" + node.name);
    if (::linkat(ostree_repo_get_dfd(repo), object.c_str(), AT_FDCWD, temp.c_str(), 0) != 0) return;
    if (::rename(temp.c_str(), node.path.c_str()) != 0) ::unlink(temp.c_str());
}

struct Counters {
    std::atomic<std::size_t> written{0}, checked{0}, replaced{0};
};

// Whether the repository has the object `node` names, and it is what its name says. A damaged object
// is removed (with a warning), so the caller writes it again from the node's file.
bool have_intact(OstreeRepo* repo, const Node& node, Counters& counters) {
    gboolean have = FALSE;
    gcall("look up an object", [&](auto error) {
        return ostree_repo_has_object(repo, OSTREE_OBJECT_TYPE_FILE, node.checksum.c_str(), &have, nullptr, error);
    });
    if (!have) return false;
    // Only a bare repository's objects are ours to check here (an archive's are compressed).
    if (ostree_repo_get_mode(repo) != OSTREE_REPO_MODE_BARE) return true;
    // An object written in this transaction is still in ostree's staging directory: ours, just made.
    struct stat info {};
    if (::fstatat(ostree_repo_get_dfd(repo), object_path(node.checksum).c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0 &&
        errno == ENOENT)
        return true;
    ++counters.checked;
    if (object_intact(repo, node.checksum)) return true;
    log::warn("replacing the damaged object {} of the cache's repository '{}' (its content no longer matches its "
              "name) by the file '{}'",
              node.checksum, repo_path_of(repo), node.path.string());
    ::unlinkat(ostree_repo_get_dfd(repo), object_path(node.checksum).c_str(), 0);
    ++counters.replaced;
    return false;
}

// Whether `node` (its checksum known) still has to be written: not when the repository has it intact
// (then, adopting, the file becomes a hardlink of the object) or when the file itself was adopted as
// the object.
bool needs_writing(OstreeRepo* repo, const Node& node, bool adopt, Counters& counters) {
    if (have_intact(repo, node, counters)) {
        if (adopt) link_object(repo, node);
        return false;
    }
    ++counters.written;
    return !(adopt && adopt_file(repo, node));
}

// Streams the open file `fd` into the repository as `node`'s object.
void write_regular_file(OstreeRepo* repo, const Node& node, int fd) {
    if (::lseek(fd, 0, SEEK_SET) != 0) throw SysError<CommitError>(errno, "read '{}' again", node.path.string());
    std::string what = fmt::format("write '{}' into the repository", node.path.string());
    GObjectPtr<OstreeContentWriter> writer(gcall_ptr<CommitError>(what, [&](auto error) {
        return ostree_repo_write_regfile(repo, node.checksum.c_str(), node.info.st_uid, node.info.st_gid,
                                         node.info.st_mode, static_cast<guint64>(node.info.st_size), node.xattrs.get(),
                                         error);
    }));
    std::vector<char> buffer(1 << 17);
    for (;;) {
        ssize_t got = ::read(fd, buffer.data(), buffer.size());
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw SysError<CommitError>(errno, "read '{}'", node.path.string());
        if (got == 0) break;
        gcall(what, [&](auto error) {
            return g_output_stream_write_all(G_OUTPUT_STREAM(writer.get()), buffer.data(), static_cast<gsize>(got),
                                             nullptr, nullptr, error);
        });
    }
    wrap::GCharPtr written(gcall_ptr<CommitError>(
        what, [&](auto error) { return ostree_content_writer_finish(writer.get(), nullptr, error); }));
}

// The content checksum of a file or a symlink, and its object written (or adopted) when the
// repository lacks it.
void write_content(OstreeRepo* repo, Node& node, bool adopt, Counters& counters) {
    if (S_ISLNK(node.info.st_mode)) {
        node.checksum = content_checksum(node.info, node.xattrs.get(), node.target, -1, node.path);
        if (!needs_writing(repo, node, adopt, counters)) return;
        wrap::GCharPtr written(
            gcall_ptr<CommitError>(fmt::format("write the symlink '{}'", node.path.string()), [&](auto error) {
                return ostree_repo_write_symlink(repo, node.checksum.c_str(), node.info.st_uid, node.info.st_gid,
                                                 node.xattrs.get(), node.target.c_str(), nullptr, error);
            }));
        return;
    }
    Fd file(::open(node.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!file) throw SysError<CommitError>(errno, "open '{}'", node.path.string());
    node.checksum = content_checksum(node.info, node.xattrs.get(), "", file.get(), node.path);
    if (needs_writing(repo, node, adopt, counters)) write_regular_file(repo, node, file.get());
}

std::vector<Node> collect(const fs::path& root) {
    std::vector<Node> nodes;
    Node top;
    top.path = root;
    if (::lstat(root.c_str(), &top.info) != 0 || !S_ISDIR(top.info.st_mode))
        throw CommitError("Failed to commit '{}': not a directory", root.string());
    top.xattrs = xattrs_of(root);
    nodes.push_back(std::move(top));
    std::map<std::pair<dev_t, ino_t>, std::size_t> inodes;
    // Depth-first, a directory before its entries, so a node's parent always has a smaller index.
    for (std::size_t dir = 0; dir < nodes.size(); ++dir) {
        if (!S_ISDIR(nodes[dir].info.st_mode)) continue;
        std::vector<std::string> names;
        std::error_code ec;
        for (fs::directory_iterator it(nodes[dir].path, ec), end; !ec && it != end; it.increment(ec))
            names.push_back(it->path().filename().string());
        if (ec) throw CommitError("Failed to read the directory '{}': {}", nodes[dir].path.string(), ec.message());
        std::sort(names.begin(), names.end());
        for (auto& name : names) {
            Node node;
            node.path = nodes[dir].path / name;
            node.name = std::move(name);
            node.parent = dir;
            if (::lstat(node.path.c_str(), &node.info) != 0)
                throw SysError<CommitError>(errno, "stat '{}'", node.path.string());
            auto mode = node.info.st_mode;
            if (!S_ISDIR(mode) && !S_ISREG(mode) && !S_ISLNK(mode))
                throw CommitError("Failed to commit '{}': ostree holds only files, directories and symlinks",
                                  node.path.string());
            if (S_ISLNK(mode)) node.target = fs::read_symlink(node.path).string();
            node.xattrs = xattrs_of(node.path);
            if (S_ISREG(mode) && node.info.st_nlink > 1) {
                auto [it, first] = inodes.emplace(std::pair{node.info.st_dev, node.info.st_ino}, nodes.size());
                if (!first) node.same_as = it->second;
            }
            nodes.push_back(std::move(node));
        }
    }
    return nodes;
}

struct InodeHash {
    std::size_t operator()(const std::pair<dev_t, ino_t>& key) const noexcept {
        return std::hash<std::uint64_t>{}(static_cast<std::uint64_t>(key.first) * 1000003u ^ key.second);
    }
};
using ObjectInodes = std::unordered_map<std::pair<dev_t, ino_t>, std::string, InodeHash>;

// The content objects of a bare repository by inode: objects/XX/YYYY.file is the object XXYYYY.
ObjectInodes object_inodes(OstreeRepo* repo) {
    ObjectInodes inodes;
    if (ostree_repo_get_mode(repo) != OSTREE_REPO_MODE_BARE) return inodes;
    wrap::GCharPtr repo_path(g_file_get_path(ostree_repo_get_path(repo)));
    std::error_code ec;
    for (const auto& prefix : fs::directory_iterator(fs::path(repo_path.get()) / "objects", ec)) {
        std::string head = prefix.path().filename().string();
        if (head.size() != 2) continue;
        for (const auto& object : fs::directory_iterator(prefix.path(), ec)) {
            std::string name = object.path().filename().string();
            if (!name.ends_with(".file") || name.size() != 62 + 5) continue;
            struct stat info {};
            if (::lstat(object.path().c_str(), &info) == 0)
                inodes.emplace(std::pair{info.st_dev, info.st_ino}, head + name.substr(0, 62));
        }
    }
    return inodes;
}

} // namespace

GObjectPtr<GFile> write_tree(OstreeRepo* repo, const fs::path& root, unsigned parallel, TreeStats& stats, bool adopt) {
    std::vector<Node> nodes = collect(root);

    // Hardlinks of the repository's objects are known; the other files are checksummed.
    bool linked = std::any_of(nodes.begin(), nodes.end(),
                              [](const Node& node) { return !S_ISDIR(node.info.st_mode) && node.info.st_nlink > 1; });
    ObjectInodes objects = linked ? object_inodes(repo) : ObjectInodes{};
    std::vector<std::size_t> files;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        Node& node = nodes[i];
        if (S_ISDIR(node.info.st_mode) || node.same_as != SIZE_MAX) continue;
        ++stats.files;
        if (auto it = objects.find({node.info.st_dev, node.info.st_ino}); it != objects.end()) {
            node.checksum = it->second;
            ++stats.linked;
        } else {
            files.push_back(i);
        }
    }

    // Content objects, in parallel: each worker takes the next file.
    Counters counters;
    unsigned threads = std::max(1u, std::min(parallel, all_cores()));
    parallel_for(files.size(), threads,
                 [&](std::size_t at) { write_content(repo, nodes[files[at]], adopt, counters); });
    for (auto& node : nodes)
        if (node.same_as != SIZE_MAX) node.checksum = nodes[node.same_as].checksum;
    stats.written = counters.written;
    stats.checked = counters.checked;
    stats.replaced = counters.replaced;

    // Directory metadata (few distinct ones: most directories are root's and 0755) and the tree.
    std::unordered_map<std::string, std::string> dirmeta;
    std::vector<GObjectPtr<OstreeMutableTree>> trees(nodes.size());
    trees[0].reset(ostree_mutable_tree_new());
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        Node& node = nodes[i];
        if (!S_ISDIR(node.info.st_mode)) {
            gcall(fmt::format("add '{}' to the tree", node.path.string()), [&](auto error) {
                return ostree_mutable_tree_replace_file(trees[node.parent].get(), node.name.c_str(),
                                                        node.checksum.c_str(), error);
            });
            continue;
        }
        ++stats.directories;
        auto info = file_info(node);
        GVariantPtr meta = wrap::take(ostree_create_directory_metadata(info.get(), node.xattrs.get()));
        std::string key(static_cast<const char*>(g_variant_get_data(meta.get())), g_variant_get_size(meta.get()));
        auto [it, added] = dirmeta.emplace(key, "");
        if (added) {
            guchar* raw = nullptr;
            gcall("write directory metadata", [&](auto error) {
                return ostree_repo_write_metadata(repo, OSTREE_OBJECT_TYPE_DIR_META, nullptr, meta.get(), &raw, nullptr,
                                                  error);
            });
            it->second = hex_of(raw);
        }
        if (i > 0) {
            OstreeMutableTree* child = nullptr;
            gcall(fmt::format("add '{}' to the tree", node.path.string()), [&](auto error) {
                return ostree_mutable_tree_ensure_dir(trees[node.parent].get(), node.name.c_str(), &child, error);
            });
            trees[i].reset(child);
        }
        ostree_mutable_tree_set_metadata_checksum(trees[i].get(), it->second.c_str());
    }
    GFile* tree_root = nullptr;
    gcall("write the tree",
          [&](auto error) { return ostree_repo_write_mtree(repo, trees[0].get(), &tree_root, nullptr, error); });
    GObjectPtr<GFile> written(tree_root);

    // ostree skipped the dirtree and dirmeta objects the repository had: those must be intact too.
    if (ostree_repo_get_mode(repo) == OSTREE_REPO_MODE_BARE) {
        ObjectCheck check;
        check_tree(repo, ostree_repo_file_tree_get_contents_checksum(OSTREE_REPO_FILE(tree_root)),
                   ostree_repo_file_tree_get_metadata_checksum(OSTREE_REPO_FILE(tree_root)), true, check);
        if (!check.damaged.empty()) {
            if (stats.rewritten)
                throw CommitError("Failed to write the tree of '{}': the repository's {} {} is still damaged after "
                                  "it was written again",
                                  root.string(), check.damaged.front().kind, check.damaged.front().checksum);
            for (const auto& object : check.damaged)
                log::warn("replacing the damaged {} object {} ({}) of the cache's repository '{}': {}", object.kind,
                          object.checksum, object.path, repo_path_of(repo), object.reason);
            remove_objects(repo, check.damaged);
            // The same root again, into fresh mutable trees: ostree writes what is now missing.
            TreeStats again;
            again.rewritten = true;
            auto result = write_tree(repo, root, parallel, again, adopt);
            stats.replaced += check.damaged.size();
            return result;
        }
    }
    return written;
}

} // namespace imgbuild::commit
