// File helpers that turn errno into an imgbuild::Error at once, naming the file.

#include "imgbuild/core/files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/interrupt.hpp"
#include "imgbuild/core/log.hpp"

namespace imgbuild {

std::string readable_path(const std::filesystem::path& path) {
    if (path.is_relative()) return path.lexically_normal().string();
    std::error_code ec;
    auto relative = path.lexically_relative(std::filesystem::current_path(ec));
    if (ec || relative.empty() || *relative.begin() == "..") return path.string();
    return relative.string();
}

std::optional<std::string> try_read_file(const std::filesystem::path& path, std::string& reason) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        reason = "it is a directory";
        return std::nullopt;
    }
    std::ifstream stream(path, std::ios::binary);
    if (!stream) {
        reason = errno_text(errno);
        return std::nullopt;
    }
    std::ostringstream contents;
    contents << stream.rdbuf();
    if (stream.bad()) {
        reason = errno_text(errno);
        return std::nullopt;
    }
    return std::move(contents).str();
}

std::string read_file(const std::filesystem::path& path) {
    std::string reason;
    auto contents = try_read_file(path, reason);
    if (!contents) throw Error("Failed to read '{}': {}", path.string(), reason);
    return std::move(*contents);
}

AtomicFile::AtomicFile(std::filesystem::path path, unsigned mode) : m_path(std::move(path)) {
    std::random_device random;
    auto dir = m_path.parent_path().empty() ? std::filesystem::path(".") : m_path.parent_path();
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    for (int attempt = 0; attempt < 16 && !m_fd; ++attempt) {
        m_temp = dir / fmt::format(".{}.tmp-{}-{:08x}", m_path.filename().string(), getpid(), random());
        m_fd.reset(::open(m_temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
        if (!m_fd && errno != EEXIST) break;
    }
    if (!m_fd) throw SysError(errno, "create '{}'", m_temp.string());
    m_on_interrupt = std::make_unique<interrupt::OnInterrupt>([temp = m_temp] { ::unlink(temp.c_str()); });
}

AtomicFile::~AtomicFile() {
    m_fd.close();
    if (!m_committed) ::unlink(m_temp.c_str());
}

void AtomicFile::write(std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(m_fd.get(), data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SysError(errno, "write '{}'", m_temp.string());
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

void AtomicFile::commit() {
    if (::fsync(m_fd.get()) != 0) throw SysError(errno, "write '{}'", m_temp.string());
    m_fd.close();
    if (::rename(m_temp.c_str(), m_path.c_str()) != 0)
        throw SysError(errno, "rename '{}' to '{}'", m_temp.string(), m_path.string());
    m_committed = true;
    // The rename itself is durable only once the directory is synced.
    auto dir = m_path.parent_path().empty() ? std::filesystem::path(".") : m_path.parent_path();
    if (Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); dir_fd) ::fsync(dir_fd.get());
}

void write_file_atomic(const std::filesystem::path& path, std::string_view contents, unsigned mode) {
    AtomicFile file(path, mode);
    file.write(contents);
    file.commit();
}

RemoveOnExit::RemoveOnExit(std::filesystem::path removed) : path(std::move(removed)) {
    m_on_interrupt = std::make_unique<interrupt::OnInterrupt>([this] {
        std::error_code ec;
        if (!keep && !path.empty()) std::filesystem::remove_all(path, ec);
    });
}

RemoveOnExit::~RemoveOnExit() {
    m_on_interrupt.reset();
    std::error_code ec;
    if (!keep && !path.empty()) std::filesystem::remove_all(path, ec);
}

void remove_inside(const std::filesystem::path& owner, const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path base = fs::weakly_canonical(fs::absolute(owner), ec);
    fs::path normal = fs::absolute(path).lexically_normal();
    fs::path parent = fs::weakly_canonical(normal.parent_path(), ec);
    fs::path target = parent / normal.filename();
    fs::path relative = target.lexically_relative(base);
    bool inside = !normal.filename().empty() && normal.filename() != "." && normal.filename() != ".." &&
                  !relative.empty() && *relative.begin() != ".." && relative != ".";
    if (!inside)
        throw Error("Refused to remove '{}': it is not inside '{}', the directory this run owns", path.string(),
                    owner.string());
    fs::remove_all(target);
}

namespace {

// The process id the holder wrote into a lock file, as words for a message.
std::string holder_of(int fd) {
    char buffer[32] = {};
    ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
    long pid = n > 0 ? std::strtol(buffer, nullptr, 10) : 0;
    return pid > 0 ? fmt::format("imgbuild process {}", pid) : std::string("another imgbuild process");
}

} // namespace

FileLock::FileLock(const std::filesystem::path& path, std::string_view what, bool wait) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    m_fd.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!m_fd) throw SysError(errno, "open the lock file '{}'", path.string());
    if (::flock(m_fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) throw SysError(errno, "lock '{}'", path.string());
        std::string holder = holder_of(m_fd.get());
        if (!wait)
            throw Error("Failed to lock {}: {} is using it (lock file '{}'); run again when it has finished, or "
                        "without --no-wait to wait for it",
                        what, holder, path.string());
        log::info("waiting for {} to finish with {}", holder, what);
        while (::flock(m_fd.get(), LOCK_EX) != 0)
            if (errno != EINTR) throw SysError(errno, "lock '{}'", path.string());
    }
    // For the messages of the next one to wait (the file's content is never trusted for anything else).
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(m_fd.get(), 0) != 0 || ::pwrite(m_fd.get(), pid.data(), pid.size(), 0) < 0)
        log::debug("could not write the process id into '{}': {}", path.string(), errno_text(errno));
}

FileLock::~FileLock() = default;

std::filesystem::path default_cache_dir() {
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/')
        return std::filesystem::path(xdg) / "imgbuild";
    if (const char* home = std::getenv("HOME"); home && *home == '/')
        return std::filesystem::path(home) / ".cache/imgbuild";
    return "/var/cache/imgbuild";
}

} // namespace imgbuild
