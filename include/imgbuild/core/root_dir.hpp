#pragma once
// A directory tree treated as a root of its own (an image's tree): every path is resolved inside it by
// the kernel (openat2 with RESOLVE_IN_ROOT), as if the process were chrooted there. A link a package or
// a recipe ships (/var/run -> /run, etc/x -> ../../../../etc) leads to the same path in the tree,
// never to the host; `..` stops at the tree's top. Operations on a final component (remove, rename,
// chmod, chown, lstat, read_link) never follow it.

#include <sys/stat.h>
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imgbuild/core/fd.hpp"

namespace imgbuild {

// What a file written into the tree gets: its mode (not reduced by the umask) and, when set, its
// owner. `sync`: fsync the file before it is renamed into place, and its directory after.
struct FileAttributes {
    unsigned mode = 0644;
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    bool sync = true;
};

class RootDir {
public:
    // Opens `path` (a directory on the host) as the root. Throws when it is not a directory.
    explicit RootDir(std::filesystem::path path);
    RootDir(const RootDir&) = delete;
    RootDir& operator=(const RootDir&) = delete;
    RootDir(RootDir&&) = default;
    RootDir& operator=(RootDir&&) = default;

    // The tree on the host (for programs run on it: the sandbox, dpkg), and its O_PATH descriptor.
    const std::filesystem::path& path() const { return m_path; }
    int fd() const { return m_fd.get(); }

    // Paths below are paths in the image: "/etc/foo" and "etc/foo" name the same file.
    // How messages show one: "/etc/foo".
    static std::string shown(const std::filesystem::path& path);

    // Opens `path` resolved inside the root (links followed, the last one too unless `flags` has
    // O_NOFOLLOW). Throws Error "Failed to open '/p' in the image: …"; try_open returns an invalid
    // descriptor with errno set instead.
    Fd open(const std::filesystem::path& path, int flags, mode_t mode = 0) const;
    Fd try_open(const std::filesystem::path& path, int flags, mode_t mode = 0) const;

    // The whole regular file (links followed inside the root). try_read: nullopt when it does not
    // exist (or a component on its way is missing or not a directory).
    std::string read(const std::filesystem::path& path) const;
    std::optional<std::string> try_read(const std::filesystem::path& path) const;

    // Writes a file atomically: a temporary name in the same directory (its parents created as by
    // create_directories), attributes set on the open file, then renamed over `path`. A link at
    // `path` is replaced, never written through; an existing directory is an error. `fill` writes the
    // content into the open descriptor.
    void write(const std::filesystem::path& path, std::string_view content, const FileAttributes& attributes = {});
    void write_with(const std::filesystem::path& path, const FileAttributes& attributes,
                    const std::function<void(int fd)>& fill);
    // The content of a host file (links followed on the host: it is the recipe's) or of a file in the
    // tree written to `path` as write() does.
    void copy_in(const std::filesystem::path& host_file, const std::filesystem::path& path,
                 const FileAttributes& attributes);
    void copy(const std::filesystem::path& from, const std::filesystem::path& to, const FileAttributes& attributes);

    // mkdir -p inside the root, one component at a time (links on the way followed inside the root);
    // new directories get `mode`. Returns the last directory, opened O_PATH.
    Fd create_directories(const std::filesystem::path& path, unsigned mode = 0755);
    // A new directory `path` (its parent must exist); false when something is already there.
    bool create_directory(const std::filesystem::path& path, unsigned mode = 0755);

    // Removes a file, a link (not what it points to) or an empty directory; false when there was none.
    bool remove(const std::filesystem::path& path);
    // Removes `path` and, when it is a directory, everything below it, never following a link.
    // Returns the number of entries removed.
    std::size_t remove_all(const std::filesystem::path& path);
    // Removes what `path` (a directory, links followed) holds, keeping it.
    void clear_directory(const std::filesystem::path& path);

    // A link at `path` whose target is `target`, stored as given (resolved only when read).
    void create_symlink(const std::filesystem::path& target, const std::filesystem::path& path);
    std::filesystem::path read_link(const std::filesystem::path& path) const;
    // rename(2) of two paths in the root; a link at either end is moved or replaced, not followed.
    void rename(const std::filesystem::path& from, const std::filesystem::path& to);

    // stat of what `path` leads to (links followed inside the root) or of `path` itself (lstat);
    // nullopt when it does not exist.
    std::optional<struct stat> stat(const std::filesystem::path& path) const;
    std::optional<struct stat> lstat(const std::filesystem::path& path) const;
    bool exists(const std::filesystem::path& path) const { return stat(path).has_value(); }
    bool is_directory(const std::filesystem::path& path) const;
    bool is_regular_file(const std::filesystem::path& path) const;

    // Entry names of a directory (links followed inside the root), sorted; empty when it is missing.
    std::vector<std::string> list(const std::filesystem::path& path) const;

    // Every entry below the directory `path` (links on the way to it followed inside the root), depth
    // first with names sorted, without following any link below it. `visit` gets the entry's path in
    // the image ("/var/lib/x"), its lstat and, for a link, its target; it returns false to leave a
    // directory's content out.
    struct Entry {
        std::string path;
        struct stat info;
        std::string target;
    };
    void walk(const std::filesystem::path& path, const std::function<bool(const Entry& entry)>& visit) const;

    // Mode and owner of `path` itself: a link at `path` is not followed (chmod of a link is an error,
    // chown changes the link's owner).
    void chmod(const std::filesystem::path& path, unsigned mode);
    void chown(const std::filesystem::path& path, uid_t uid, gid_t gid);

    // Where `path` leads in the image ("/var/run/x" → "/run/x" when /var/run links to /run): links
    // are followed inside the root up to the last existing component (the last one only when
    // `follow_last`); the missing rest is appended as written.
    std::string resolve(const std::filesystem::path& path, bool follow_last = true) const;

private:
    // The directory holding `path`'s last component (resolved inside the root), and that component.
    struct Parent {
        Fd dir;
        std::string name;
    };
    Parent parent(const std::filesystem::path& path, const char* verb, bool create);
    Parent parent(const std::filesystem::path& path, const char* verb) const;
    // The same, its descriptor invalid (errno set) when the directory cannot be opened.
    Parent try_parent(const std::filesystem::path& path, const char* verb) const;
    // The in-image path of an open descriptor of the tree.
    std::string path_of(int fd) const;

    std::filesystem::path m_path;
    std::filesystem::path m_real; // m_path as the kernel names it (/proc/self/fd), to map descriptors back
    Fd m_fd;
};

} // namespace imgbuild
