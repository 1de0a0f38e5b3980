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
// before it is used, since it is a cache's: a damaged one never gets into a commit.

#include "tree.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "imgbuild/commit/commit.hpp"
#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"

namespace imgbuild::commit {
namespace {

namespace fs = std::filesystem;
using wrap::GBytesPtr;
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

// The extended attributes of `path` as ostree stores them: a(ayay), names with their NUL, sorted.
GVariantPtr xattrs_of(const fs::path& path) {
    std::vector<char> names;
    for (;;) {
        ssize_t size = ::llistxattr(path.c_str(), nullptr, 0);
        if (size < 0) {
            if (errno == ENOTSUP)
                size = 0;
            else
                throw SysError<CommitError>(errno, "list the extended attributes of '{}'", path.string());
        }
        names.resize(static_cast<std::size_t>(size));
        if (size == 0) break;
        ssize_t got = ::llistxattr(path.c_str(), names.data(), names.size());
        if (got >= 0) {
            names.resize(static_cast<std::size_t>(got));
            break;
        }
        if (errno != ERANGE) throw SysError<CommitError>(errno, "list the extended attributes of '{}'", path.string());
    }
    std::vector<std::string> sorted;
    for (std::size_t at = 0; at < names.size();) {
        std::string name(names.data() + at);
        at += name.size() + 1;
        if (!name.empty()) sorted.push_back(std::move(name));
    }
    std::sort(sorted.begin(), sorted.end());
    GVariantBuilder builder;
    g_variant_builder_init(&builder, G_VARIANT_TYPE("a(ayay)"));
    for (const auto& name : sorted) {
        std::vector<char> value;
        for (;;) {
            ssize_t size = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
            if (size < 0)
                throw SysError<CommitError>(errno, "read the extended attribute {} of '{}'", name, path.string());
            value.resize(static_cast<std::size_t>(size));
            ssize_t got = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
            if (got >= 0) {
                value.resize(static_cast<std::size_t>(got));
                break;
            }
            if (errno != ERANGE)
                throw SysError<CommitError>(errno, "read the extended attribute {} of '{}'", name, path.string());
        }
        g_variant_builder_add(&builder, "(@ay@ay)", g_variant_new_bytestring(name.c_str()),
                              g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, value.data(), value.size(), 1));
    }
    return wrap::take(g_variant_builder_end(&builder));
}

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

// Where a bare repository keeps an object: objects/XX/YYYY.KIND for the checksum XXYYYY.
std::string object_path(const std::string& checksum, std::string_view kind = "file") {
    return fmt::format("objects/{}/{}.{}", checksum.substr(0, 2), checksum.substr(2), kind);
}

std::string repo_path_of(OstreeRepo* repo) {
    wrap::GCharPtr path(g_file_get_path(ostree_repo_get_path(repo)));
    return path.get();
}

// The content checksum of the bare repository's object as it is now; "" when it is missing, not a
// file or a symlink, or unreadable. `bytes` gets the content's size.
std::string object_content_checksum(int dfd, const fs::path& repo_path, const std::string& checksum,
                                    std::uint64_t& bytes, std::string& reason) {
    std::string relative = object_path(checksum);
    struct stat info {};
    if (::fstatat(dfd, relative.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
        reason = errno == ENOENT ? "it is missing" : errno_text(errno);
        return "";
    }
    fs::path full = repo_path / relative;
    try {
        if (S_ISLNK(info.st_mode)) {
            std::string target(static_cast<std::size_t>(info.st_size) + 1, '\0');
            ssize_t n = ::readlinkat(dfd, relative.c_str(), target.data(), target.size());
            if (n < 0 || static_cast<std::size_t>(n) >= target.size()) {
                reason = "its link target cannot be read";
                return "";
            }
            target.resize(static_cast<std::size_t>(n));
            return content_checksum(info, xattrs_of(full).get(), target, -1, full);
        }
        Fd file(::openat(dfd, relative.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
        if (!file || ::fstat(file.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
            reason = !file ? errno_text(errno) : "it is not a regular file";
            return "";
        }
        bytes = static_cast<std::uint64_t>(info.st_size);
        return content_checksum(info, xattrs_of(full).get(), "", file.get(), full);
    } catch (const Error& e) {
        reason = e.what();
        return "";
    }
}

// True when the bare repository's content object `checksum` is what its name says.
bool object_intact(OstreeRepo* repo, const std::string& checksum) {
    std::uint64_t bytes = 0;
    std::string reason;
    return object_content_checksum(ostree_repo_get_dfd(repo), repo_path_of(repo), checksum, bytes, reason) == checksum;
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

namespace {

// Runs `task(i)` for i in [0, count) on `threads` threads; the first exception is rethrown.
template <class Task>
void parallel_for(std::size_t count, unsigned threads, Task&& task) {
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr first_error;
    std::mutex error_mutex;
    auto work = [&] {
        for (std::size_t at; !failed && (at = next++) < count;) {
            try {
                task(at);
            } catch (...) {
                std::lock_guard lock(error_mutex);
                if (!first_error) first_error = std::current_exception();
                failed = true;
            }
        }
    };
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads && i < count; ++i) pool.emplace_back(work);
    work();
    for (auto& thread : pool) thread.join();
    if (first_error) std::rethrow_exception(first_error);
}

unsigned all_cores() { return std::max(1u, std::thread::hardware_concurrency()); }

std::string hex_bytes(const unsigned char* bytes, std::size_t size) {
    static const char digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        hex += digits[bytes[i] >> 4];
        hex += digits[bytes[i] & 15];
    }
    return hex;
}

// A checksum held in a GVariant `ay`, as hex ("" when it is not 32 bytes).
std::string checksum_of(GVariant* bytes) {
    gsize size = 0;
    const auto* data = static_cast<const unsigned char*>(g_variant_get_fixed_array(bytes, &size, 1));
    return size == 32 ? hex_bytes(data, size) : "";
}

// A metadata object of a bare repository, read and checked against its name (SHA-256 of its bytes)
// and parsed; null, with the damage recorded, when it is missing or changed.
GVariantPtr read_metadata(OstreeRepo* repo, const std::string& checksum, OstreeObjectType type_id, const char* kind,
                          const GVariantType* type, const std::string& path, ObjectCheck& check) {
    ++check.objects;
    std::string relative = object_path(checksum, kind);
    Fd file(::openat(ostree_repo_get_dfd(repo), relative.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    struct stat info {};
    std::string reason;
    if (!file && errno == ENOENT) {
        // Not among the objects: written in the open transaction (ostree's staging directory, where
        // only ostree reads it), or missing.
        GVariant* staged = nullptr;
        if (ostree_repo_load_variant_if_exists(repo, type_id, checksum.c_str(), &staged, nullptr) && staged)
            return GVariantPtr(staged);
        reason = "it is missing";
    } else if (!file)
        reason = errno_text(errno);
    else if (::fstat(file.get(), &info) != 0 || !S_ISREG(info.st_mode))
        reason = "it is not a regular file";
    std::string bytes;
    if (reason.empty()) {
        bytes.resize(static_cast<std::size_t>(info.st_size));
        std::size_t done = 0;
        while (done < bytes.size()) {
            ssize_t n = ::read(file.get(), bytes.data() + done, bytes.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            done += static_cast<std::size_t>(n);
        }
        if (done != bytes.size())
            reason = "it cannot be read";
        else if (sha256_hex(bytes) != checksum)
            reason = "its content no longer matches its name";
    }
    if (!reason.empty()) {
        check.damaged.push_back({checksum, kind, path, reason});
        return {};
    }
    GBytesPtr data(g_bytes_new(bytes.data(), bytes.size()));
    return wrap::take(g_variant_new_from_bytes(type, data.get(), FALSE));
}

// The objects of the tree (`tree`, `meta`) at `path`: metadata read and checked as the walk goes, the
// content objects checked afterwards in parallel unless `metadata_only`.
void check_tree(OstreeRepo* repo, const std::string& tree, const std::string& meta, bool metadata_only,
                ObjectCheck& check) {
    int dfd = ostree_repo_get_dfd(repo);
    std::set<std::string> seen_trees, seen_metas;
    std::unordered_set<std::string> seen_files;
    std::vector<std::pair<std::string, std::string>> files; // checksum, first path
    struct Dir {
        std::string tree, meta, path;
    };
    std::vector<Dir> pending{{tree, meta, "/"}};
    while (!pending.empty()) {
        Dir dir = std::move(pending.back());
        pending.pop_back();
        if (seen_metas.insert(dir.meta).second)
            read_metadata(repo, dir.meta, OSTREE_OBJECT_TYPE_DIR_META, "dirmeta", OSTREE_DIRMETA_GVARIANT_FORMAT,
                          dir.path, check);
        if (!seen_trees.insert(dir.tree).second) continue;
        auto variant = read_metadata(repo, dir.tree, OSTREE_OBJECT_TYPE_DIR_TREE, "dirtree",
                                     OSTREE_TREE_GVARIANT_FORMAT, dir.path, check);
        if (!variant) continue;
        std::string prefix = dir.path == "/" ? "/" : dir.path + "/";
        GVariantPtr entries(g_variant_get_child_value(variant.get(), 0));
        for (gsize i = 0, n = g_variant_n_children(entries.get()); i < n; ++i) {
            const char* name = nullptr;
            GVariant* raw = nullptr;
            g_variant_get_child(entries.get(), i, "(&s@ay)", &name, &raw);
            GVariantPtr checksum(raw);
            std::string hex = checksum_of(checksum.get());
            if (seen_files.insert(hex).second) files.emplace_back(hex, prefix + name);
        }
        GVariantPtr dirs(g_variant_get_child_value(variant.get(), 1));
        for (gsize i = 0, n = g_variant_n_children(dirs.get()); i < n; ++i) {
            const char* name = nullptr;
            GVariant* raw_tree = nullptr;
            GVariant* raw_meta = nullptr;
            g_variant_get_child(dirs.get(), i, "(&s@ay@ay)", &name, &raw_tree, &raw_meta);
            GVariantPtr tree_checksum(raw_tree), meta_checksum(raw_meta);
            pending.push_back({checksum_of(tree_checksum.get()), checksum_of(meta_checksum.get()), prefix + name});
        }
    }
    if (metadata_only) return;

    std::string repo_path = repo_path_of(repo);
    std::vector<std::string> found(files.size()), reasons(files.size());
    std::vector<std::uint64_t> sizes(files.size(), 0);
    parallel_for(files.size(), all_cores(), [&](std::size_t i) {
        found[i] = object_content_checksum(dfd, repo_path, files[i].first, sizes[i], reasons[i]);
    });
    for (std::size_t i = 0; i < files.size(); ++i) {
        ++check.objects;
        check.bytes += sizes[i];
        if (found[i] == files[i].first) continue;
        check.damaged.push_back({files[i].first, "file", files[i].second,
                                 found[i].empty() ? reasons[i] : "its content or attributes no longer match its name"});
    }
}

} // namespace

std::string content_checksum(const struct stat& info, GVariant* xattrs, const std::string& symlink_target, int fd,
                             const fs::path& path) {
    GVariantPtr empty;
    if (!xattrs) {
        empty = wrap::take(g_variant_new_array(G_VARIANT_TYPE("(ayay)"), nullptr, 0));
        xattrs = empty.get();
    }
    GVariantPtr header = wrap::take(g_variant_new("(uuuus@a(ayay))", GUINT32_TO_BE(info.st_uid),
                                                  GUINT32_TO_BE(info.st_gid), GUINT32_TO_BE(info.st_mode), 0u,
                                                  S_ISLNK(info.st_mode) ? symlink_target.c_str() : "", xattrs));
    auto size = static_cast<std::uint32_t>(g_variant_get_size(header.get()));
    const unsigned char prefix[8] = {static_cast<unsigned char>(size >> 24),
                                     static_cast<unsigned char>(size >> 16),
                                     static_cast<unsigned char>(size >> 8),
                                     static_cast<unsigned char>(size),
                                     0,
                                     0,
                                     0,
                                     0};
    Hasher hasher(DigestType::sha256);
    hasher.update(prefix, sizeof prefix);
    hasher.update(g_variant_get_data(header.get()), size);
    if (S_ISREG(info.st_mode) && fd >= 0) {
        thread_local std::vector<char> buffer(1 << 20);
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        for (;;) {
            ssize_t got = ::read(fd, buffer.data(), buffer.size());
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) throw SysError<CommitError>(errno, "read '{}'", path.string());
            if (got == 0) break;
            hasher.update(buffer.data(), static_cast<std::size_t>(got));
        }
    }
    return hasher.hex();
}

GVariantPtr read_xattrs(const fs::path& path) { return xattrs_of(path); }

ObjectCheck check_commit_objects(OstreeRepo* repo, const std::string& checksum, bool metadata_only) {
    ObjectCheck check;
    auto commit =
        read_metadata(repo, checksum, OSTREE_OBJECT_TYPE_COMMIT, "commit", OSTREE_COMMIT_GVARIANT_FORMAT, "", check);
    if (!commit) return check;
    GVariantPtr tree(g_variant_get_child_value(commit.get(), 6));
    GVariantPtr meta(g_variant_get_child_value(commit.get(), 7));
    check_tree(repo, checksum_of(tree.get()), checksum_of(meta.get()), metadata_only, check);
    return check;
}

void remove_objects(OstreeRepo* repo, const std::vector<DamagedObject>& objects) {
    for (const auto& object : objects)
        if (object.checksum.size() == 64)
            ::unlinkat(ostree_repo_get_dfd(repo), object_path(object.checksum, object.kind).c_str(), 0);
}

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
