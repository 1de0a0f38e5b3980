// RootDir: an image's tree worked on as if chrooted into it. Every path is resolved by the kernel with
// openat2(2) RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS from one O_PATH descriptor of the tree, and every
// operation on a last component goes through the descriptor of its directory, so no link in the tree
// (and no link swapped in between two calls) can lead a write or a read out of it.

#include "imgbuild/core/root_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include <fmt/format.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/finally.hpp"

namespace imgbuild {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t in_root = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
// One name in a directory we hold: no link followed at all.
constexpr std::uint64_t one_name = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

// glibc 2.36 has no openat2 wrapper. EAGAIN: RESOLVE_IN_ROOT saw a rename race with a ".." and
// refused the walk; it is retried a bounded number of times, as the kernel's documentation suggests.
int openat2_fd(int dir, const char* path, std::uint64_t flags, std::uint64_t mode, std::uint64_t resolve) {
    open_how how{};
    how.flags = flags | O_CLOEXEC;
    how.mode = mode;
    how.resolve = resolve;
    for (int attempt = 0;; ++attempt) {
        long fd = ::syscall(SYS_openat2, dir, path, &how, sizeof how);
        if (fd >= 0) return static_cast<int>(fd);
        if ((errno == EAGAIN && attempt < 64) || errno == EINTR) continue;
        return -1;
    }
}

// "/etc/foo", "etc/foo/", "./etc//foo" → "etc/foo"; the root itself → "".
std::string inside_path(const fs::path& path) {
    std::string result;
    for (const auto& part : path.relative_path()) {
        std::string name = part.string();
        if (name.empty() || name == ".") continue;
        if (!result.empty()) result += '/';
        result += name;
    }
    return result;
}

const char* or_dot(const std::string& path) { return path.empty() ? "." : path.c_str(); }

[[noreturn]] void fail(const char* verb, const fs::path& path, int error) {
    throw SysError(error, "{} '{}' in the image", verb, RootDir::shown(path));
}

[[noreturn]] void fail(const char* verb, const fs::path& path, std::string_view reason) {
    throw Error("Failed to {} '{}' in the image: {}", verb, RootDir::shown(path), reason);
}

bool missing(int error) { return error == ENOENT || error == ENOTDIR; }

void write_all(int fd, std::string_view data, const fs::path& path) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("write", path, errno);
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string read_all(int fd, const fs::path& path) {
    struct stat info {};
    if (::fstat(fd, &info) != 0) fail("read", path, errno);
    if (S_ISDIR(info.st_mode)) fail("read", path, "it is a directory");
    if (!S_ISREG(info.st_mode)) fail("read", path, "it is not a regular file");
    std::string content;
    content.reserve(static_cast<std::size_t>(info.st_size));
    char buffer[1 << 16];
    for (;;) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("read", path, errno);
        if (n == 0) break;
        content.append(buffer, static_cast<std::size_t>(n));
    }
    return content;
}

// Copies what is left of `from` into `to` (a regular file's content).
void copy_content(int from, int to, const fs::path& path) {
    for (;;) {
        ssize_t n = ::sendfile(to, from, nullptr, 1 << 30);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EINVAL || errno == ENOSYS)) break; // no sendfile here: read and write
        if (n < 0) fail("write", path, errno);
        if (n == 0) return;
    }
    char buffer[1 << 16];
    for (;;) {
        ssize_t n = ::read(from, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("write", path, errno);
        if (n == 0) return;
        write_all(to, std::string_view(buffer, static_cast<std::size_t>(n)), path);
    }
}

// Removes what the directory `dir` holds, depth first, never following a link: a directory is
// entered only through a descriptor opened with O_NOFOLLOW from its parent's.
std::vector<std::string> entry_names(int dir, const fs::path& shown_path);

std::size_t clear_entries(int dir, const fs::path& shown_path) {
    std::size_t removed = 0;
    for (const auto& name : entry_names(dir, shown_path)) {
        fs::path child = shown_path / name;
        if (::unlinkat(dir, name.c_str(), 0) == 0) {
            ++removed;
            continue;
        }
        if (errno == ENOENT) continue;
        if (errno != EISDIR && errno != EPERM) fail("remove", child, errno);
        int sub = openat2_fd(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, one_name);
        if (sub < 0) fail("remove", child, errno);
        Fd owned(sub);
        removed += clear_entries(sub, child);
        if (::unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) fail("remove", child, errno);
        ++removed;
    }
    return removed;
}

// Names in the directory `dir` (without . and ..), sorted.
std::vector<std::string> entry_names(int dir, const fs::path& shown_path) {
    int listing = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (listing < 0) fail("list", shown_path, errno);
    DIR* stream = ::fdopendir(listing);
    if (!stream) {
        int error = errno;
        ::close(listing);
        fail("list", shown_path, error);
    }
    std::vector<std::string> names;
    while (dirent* entry = ::readdir(stream)) {
        std::string_view name = entry->d_name;
        if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(stream);
    std::sort(names.begin(), names.end());
    return names;
}

void walk_entries(int dir, const std::string& prefix, const std::function<bool(const RootDir::Entry&)>& visit) {
    for (auto& name : entry_names(dir, prefix.empty() ? "/" : prefix)) {
        RootDir::Entry entry{prefix + "/" + name, {}, {}};
        if (::fstatat(dir, name.c_str(), &entry.info, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) continue;
            fail("look at", entry.path, errno);
        }
        if (S_ISLNK(entry.info.st_mode)) {
            entry.target.resize(4096);
            ssize_t n = ::readlinkat(dir, name.c_str(), entry.target.data(), entry.target.size());
            if (n < 0) fail("read the link", entry.path, errno);
            entry.target.resize(static_cast<std::size_t>(n));
        }
        if (!visit(entry) || !S_ISDIR(entry.info.st_mode)) continue;
        int sub = openat2_fd(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, one_name);
        if (sub < 0) fail("list", entry.path, errno);
        Fd owned(sub);
        walk_entries(sub, entry.path, visit);
    }
}

} // namespace

RootDir::RootDir(fs::path path) : m_path(std::move(path)) {
    int fd = ::open(m_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw SysError(errno, "open the tree '{}'", m_path.string());
    m_fd = Fd(fd);
    m_real = fs::read_symlink(fmt::format("/proc/self/fd/{}", fd));
}

std::string RootDir::shown(const fs::path& path) { return "/" + inside_path(path); }

Fd RootDir::try_open(const fs::path& path, int flags, mode_t mode) const {
    return Fd(openat2_fd(fd(), or_dot(inside_path(path)), static_cast<std::uint64_t>(flags), mode, in_root));
}

Fd RootDir::open(const fs::path& path, int flags, mode_t mode) const {
    Fd file = try_open(path, flags, mode);
    if (!file) fail("open", path, errno);
    return file;
}

std::optional<std::string> RootDir::try_read(const fs::path& path) const {
    Fd file = try_open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    if (!file) {
        if (missing(errno)) return std::nullopt;
        fail("read", path, errno);
    }
    return read_all(file.get(), path);
}

std::string RootDir::read(const fs::path& path) const {
    auto content = try_read(path);
    if (!content) fail("read", path, ENOENT);
    return std::move(*content);
}

RootDir::Parent RootDir::try_parent(const fs::path& path, const char* verb) const {
    fs::path split(inside_path(path));
    std::string name = split.filename().string();
    if (name.empty() || name == "..") fail(verb, path, "it names no entry of a directory");
    return {Fd(openat2_fd(fd(), or_dot(split.parent_path().string()), O_PATH | O_DIRECTORY, 0, in_root)),
            std::move(name)};
}

RootDir::Parent RootDir::parent(const fs::path& path, const char* verb) const {
    Parent where = try_parent(path, verb);
    if (!where.dir) fail(verb, path, errno);
    return where;
}

RootDir::Parent RootDir::parent(const fs::path& path, const char* verb, bool create) {
    if (!create) return static_cast<const RootDir&>(*this).parent(path, verb);
    fs::path split(inside_path(path));
    std::string name = split.filename().string();
    if (name.empty() || name == "..") fail(verb, path, "it names no entry of a directory");
    return {create_directories(split.parent_path()), std::move(name)};
}

Fd RootDir::create_directories(const fs::path& path, unsigned mode) {
    // Each prefix is resolved from the root again, so wherever a link on the way leads, it leads
    // there inside the root. A missing component is made in the directory the previous prefix
    // resolved to, and opened from it without following anything: it is the directory just made
    // (or one a concurrent mkdir made), never a link put there in the meantime.
    Fd current(openat2_fd(fd(), ".", O_PATH | O_DIRECTORY, 0, in_root));
    if (!current) fail("open", "/", errno);
    std::string prefix;
    for (const auto& part : fs::path(inside_path(path))) {
        std::string name = part.string();
        prefix += (prefix.empty() ? "" : "/") + name;
        int next = openat2_fd(fd(), prefix.c_str(), O_PATH | O_DIRECTORY, 0, in_root);
        if (next >= 0) {
            current = Fd(next);
            continue;
        }
        if (errno == ENOTDIR) fail("create the directory", prefix, "it exists and is not a directory");
        if (errno != ENOENT) fail("create the directory", prefix, errno);
        bool made = ::mkdirat(current.get(), name.c_str(), mode) == 0;
        if (!made && errno != EEXIST) fail("create the directory", prefix, errno);
        next = openat2_fd(current.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, one_name);
        if (next < 0 && (errno == ELOOP || errno == ENOTDIR)) {
            // What is there: a link (O_NOFOLLOW|O_DIRECTORY says ENOTDIR or ELOOP) whose target is
            // missing in the root, or something else that is no directory.
            int error = errno;
            struct stat there {};
            if (::fstatat(current.get(), name.c_str(), &there, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(there.st_mode))
                fail(
                    "create the directory", prefix,
                    fmt::format("it is a link to '{}', which does not exist in the image", read_link(prefix).string()));
            fail("create the directory", prefix, error);
        }
        if (next < 0) fail("create the directory", prefix, errno);
        // The mode as asked, whatever the umask.
        if (made && ::fchmod(next, mode) != 0) {
            int error = errno;
            ::close(next);
            fail("create the directory", prefix, error);
        }
        current = Fd(next);
    }
    return current;
}

bool RootDir::create_directory(const fs::path& path, unsigned mode) {
    Parent where = parent(path, "create the directory");
    if (::mkdirat(where.dir.get(), where.name.c_str(), mode) != 0) {
        if (errno == EEXIST) return false;
        fail("create the directory", path, errno);
    }
    int made = openat2_fd(where.dir.get(), where.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, one_name);
    if (made < 0) fail("create the directory", path, errno);
    Fd owned(made);
    if (::fchmod(made, mode) != 0) fail("create the directory", path, errno);
    return true;
}

void RootDir::write_with(const fs::path& path, const FileAttributes& attributes,
                         const std::function<void(int fd)>& fill) {
    Parent where = parent(path, "write", true);
    int dir = where.dir.get();
    struct stat existing {};
    if (::fstatat(dir, where.name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(existing.st_mode))
        fail("write", path, "it is a directory");

    std::random_device random;
    std::string temp;
    Fd file;
    for (int attempt = 0; attempt < 16 && !file; ++attempt) {
        temp = fmt::format(".{}.tmp-{}-{:08x}", where.name.substr(0, 200), ::getpid(), random());
        // O_EXCL|O_CREAT never follows a link; the name is one component of a directory we hold.
        file = Fd(::openat(dir, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!file && errno != EEXIST) break;
    }
    if (!file) fail("write", path, errno);
    bool renamed = false;
    Finally cleanup([&] {
        if (!renamed) ::unlinkat(dir, temp.c_str(), 0);
    });

    fill(file.get());
    // The owner first: chown clears setuid and setgid bits, which the mode then sets.
    if ((attributes.uid || attributes.gid) &&
        ::fchown(file.get(), attributes.uid ? *attributes.uid : static_cast<uid_t>(-1),
                 attributes.gid ? *attributes.gid : static_cast<gid_t>(-1)) != 0)
        fail("set the owner of", path, errno);
    if (::fchmod(file.get(), attributes.mode) != 0) fail("set the mode of", path, errno);
    if (attributes.sync && ::fsync(file.get()) != 0) fail("write", path, errno);
    file = Fd();
    if (::renameat(dir, temp.c_str(), dir, where.name.c_str()) != 0) fail("write", path, errno);
    renamed = true;
    if (attributes.sync) {
        // The rename is durable once the directory is.
        Fd synced(::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (synced) ::fsync(synced.get());
    }
}

void RootDir::write(const fs::path& path, std::string_view content, const FileAttributes& attributes) {
    write_with(path, attributes, [&](int file) { write_all(file, content, path); });
}

void RootDir::copy_in(const fs::path& host_file, const fs::path& path, const FileAttributes& attributes) {
    Fd source(::open(host_file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!source) throw SysError(errno, "read '{}'", host_file.string());
    struct stat info {};
    if (::fstat(source.get(), &info) != 0 || !S_ISREG(info.st_mode))
        throw Error("Failed to read '{}': it is not a regular file", host_file.string());
    write_with(path, attributes, [&](int file) { copy_content(source.get(), file, path); });
}

void RootDir::copy(const fs::path& from, const fs::path& to, const FileAttributes& attributes) {
    Fd source = try_open(from, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    if (!source) fail("read", from, errno);
    struct stat info {};
    if (::fstat(source.get(), &info) != 0) fail("read", from, errno);
    if (!S_ISREG(info.st_mode)) fail("read", from, "it is not a regular file");
    write_with(to, attributes, [&](int file) { copy_content(source.get(), file, to); });
}

bool RootDir::remove(const fs::path& path) {
    Parent where = try_parent(path, "remove");
    if (!where.dir) {
        if (missing(errno)) return false;
        fail("remove", path, errno);
    }
    if (::unlinkat(where.dir.get(), where.name.c_str(), 0) == 0) return true;
    if (errno == EISDIR || errno == EPERM) {
        if (::unlinkat(where.dir.get(), where.name.c_str(), AT_REMOVEDIR) == 0) return true;
    }
    if (errno == ENOENT) return false;
    fail("remove", path, errno);
}

std::size_t RootDir::remove_all(const fs::path& path) {
    Parent where = try_parent(path, "remove");
    if (!where.dir) {
        if (missing(errno)) return 0;
        fail("remove", path, errno);
    }
    int dir = where.dir.get();
    if (::unlinkat(dir, where.name.c_str(), 0) == 0) return 1;
    if (errno == ENOENT) return 0;
    if (errno != EISDIR && errno != EPERM) fail("remove", path, errno);
    int sub = openat2_fd(dir, where.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, one_name);
    if (sub < 0) fail("remove", path, errno);
    Fd owned(sub);
    std::size_t removed = clear_entries(sub, shown(path));
    if (::unlinkat(dir, where.name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) fail("remove", path, errno);
    return removed + 1;
}

void RootDir::clear_directory(const fs::path& path) {
    Fd dir = try_open(path, O_RDONLY | O_DIRECTORY);
    if (!dir) fail("empty the directory", path, errno);
    clear_entries(dir.get(), shown(path));
}

void RootDir::create_symlink(const fs::path& target, const fs::path& path) {
    Parent where = parent(path, "create the link", true);
    if (::symlinkat(target.c_str(), where.dir.get(), where.name.c_str()) != 0) fail("create the link", path, errno);
}

fs::path RootDir::read_link(const fs::path& path) const {
    Parent where = parent(path, "read the link");
    std::string target(4096, '\0');
    ssize_t n = ::readlinkat(where.dir.get(), where.name.c_str(), target.data(), target.size());
    if (n < 0) fail("read the link", path, errno);
    target.resize(static_cast<std::size_t>(n));
    return target;
}

void RootDir::rename(const fs::path& from, const fs::path& to) {
    Parent source = parent(from, "move");
    Parent target = parent(to, "move", true);
    if (::renameat(source.dir.get(), source.name.c_str(), target.dir.get(), target.name.c_str()) != 0)
        throw SysError(errno, "move '{}' to '{}' in the image", shown(from), shown(to));
}

std::optional<struct stat> RootDir::stat(const fs::path& path) const {
    Fd file = try_open(path, O_PATH);
    if (!file) {
        if (missing(errno) || errno == ELOOP) return std::nullopt; // ELOOP: a link cycle leads nowhere
        fail("look at", path, errno);
    }
    struct stat info {};
    if (::fstat(file.get(), &info) != 0) fail("look at", path, errno);
    return info;
}

std::optional<struct stat> RootDir::lstat(const fs::path& path) const {
    // O_PATH|O_NOFOLLOW opens a link itself.
    Fd file = try_open(path, O_PATH | O_NOFOLLOW);
    if (!file) {
        if (missing(errno)) return std::nullopt;
        fail("look at", path, errno);
    }
    struct stat info {};
    if (::fstat(file.get(), &info) != 0) fail("look at", path, errno);
    return info;
}

bool RootDir::is_directory(const fs::path& path) const {
    auto info = stat(path);
    return info && S_ISDIR(info->st_mode);
}

bool RootDir::is_regular_file(const fs::path& path) const {
    auto info = stat(path);
    return info && S_ISREG(info->st_mode);
}

std::vector<std::string> RootDir::list(const fs::path& path) const {
    Fd dir = try_open(path, O_RDONLY | O_DIRECTORY);
    if (!dir) {
        if (missing(errno)) return {};
        fail("list", path, errno);
    }
    return entry_names(dir.get(), path);
}

void RootDir::walk(const fs::path& path, const std::function<bool(const Entry& entry)>& visit) const {
    Fd dir = try_open(path, O_RDONLY | O_DIRECTORY);
    if (!dir) fail("list", path, errno);
    std::string prefix = shown(path);
    walk_entries(dir.get(), prefix == "/" ? "" : prefix, visit);
}

void RootDir::chmod(const fs::path& path, unsigned mode) {
    // A link is never followed: the object is opened with O_NOFOLLOW, and only a file or a directory
    // (opening anything else could have effects: a FIFO, a device).
    auto info = lstat(path);
    if (!info) fail("set the mode of", path, ENOENT);
    if (S_ISLNK(info->st_mode)) fail("set the mode of", path, "it is a link (links have no mode)");
    if (!S_ISREG(info->st_mode) && !S_ISDIR(info->st_mode))
        fail("set the mode of", path, "it is not a file or a directory");
    Fd file = try_open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (!file) fail("set the mode of", path, errno);
    struct stat opened {};
    if (::fstat(file.get(), &opened) != 0) fail("set the mode of", path, errno);
    if (opened.st_dev != info->st_dev || opened.st_ino != info->st_ino)
        fail("set the mode of", path, "it changed while it was opened");
    if (::fchmod(file.get(), mode) != 0) fail("set the mode of", path, errno);
}

void RootDir::chown(const fs::path& path, uid_t uid, gid_t gid) {
    Fd file = try_open(path, O_PATH | O_NOFOLLOW);
    if (!file) fail("set the owner of", path, errno);
    if (::fchownat(file.get(), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
        fail("set the owner of", path, errno);
}

std::string RootDir::path_of(int descriptor) const {
    std::error_code error;
    fs::path host = fs::read_symlink(fmt::format("/proc/self/fd/{}", descriptor), error);
    if (error) throw Error("Failed to find where a path of '{}' leads: {}", m_path.string(), error.message());
    fs::path inside = host.lexically_relative(m_real);
    if (inside.empty() || *inside.begin() == "..")
        throw Error("Failed to find where a path of '{}' leads: '{}' is outside it", m_path.string(), host.string());
    return shown(inside == "." ? fs::path() : inside);
}

std::string RootDir::resolve(const fs::path& path, bool follow_last) const {
    std::vector<std::string> parts;
    for (const auto& part : fs::path(inside_path(path))) parts.push_back(part.string());
    // The longest prefix that exists, resolved by the kernel; the rest as written.
    for (std::size_t keep = parts.size() + 1; keep-- > 0;) {
        std::string prefix;
        for (std::size_t i = 0; i < keep; ++i) prefix += (i ? "/" : "") + parts[i];
        bool last = keep == parts.size() && keep > 0;
        int flags = O_PATH | (last && !follow_last ? O_NOFOLLOW : 0);
        if (last && !follow_last) {
            // The last component itself: where its directory leads, and its name.
            fs::path split(prefix);
            std::string name = split.filename().string();
            if (name != "..") {
                Fd dir = try_open(split.parent_path(), O_PATH | O_DIRECTORY);
                if (!dir) continue;
                std::string base = path_of(dir.get());
                return (base == "/" ? "" : base) + "/" + name;
            }
        }
        Fd found = try_open(prefix, flags);
        if (!found) continue;
        std::string base = path_of(found.get());
        for (std::size_t i = keep; i < parts.size(); ++i) base += (base == "/" ? "" : "/") + parts[i];
        return base;
    }
    return "/";
}

} // namespace imgbuild
