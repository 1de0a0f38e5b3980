// The objects of a repository as ostree names them. A file's content checksum is computed here with
// OpenSSL (content_checksum), over its sorted extended attributes (xattrs_of), several times faster
// than libostree's GLib checksums. And the objects a commit or a tree reaches in a bare repository
// are checked against their names (check_commit_objects, check_tree): the build repository is a
// cache, and a damaged object must never get into a commit. tree.cpp, which writes trees, uses both.

#include "objects.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "imgbuild/commit/commit.hpp"
#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "tree.hpp"

namespace imgbuild::commit {

namespace fs = std::filesystem;
using wrap::GBytesPtr;
using wrap::GVariantPtr;

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

// Where a bare repository keeps an object: objects/XX/YYYY.KIND for the checksum XXYYYY.
std::string object_path(const std::string& checksum, std::string_view kind) {
    return fmt::format("objects/{}/{}.{}", checksum.substr(0, 2), checksum.substr(2), kind);
}

std::string repo_path_of(OstreeRepo* repo) {
    wrap::GCharPtr path(g_file_get_path(ostree_repo_get_path(repo)));
    return path.get();
}

namespace {

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

} // namespace

// True when the bare repository's content object `checksum` is what its name says.
bool object_intact(OstreeRepo* repo, const std::string& checksum) {
    std::uint64_t bytes = 0;
    std::string reason;
    return object_content_checksum(ostree_repo_get_dfd(repo), repo_path_of(repo), checksum, bytes, reason) == checksum;
}

namespace {

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

} // namespace

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

} // namespace imgbuild::commit
