#pragma once
// Files: reading with errors that name the file, writing that never leaves a half-written file under
// its final name, and where imgbuild keeps its cache.

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "imgbuild/core/fd.hpp"

namespace imgbuild {

namespace interrupt {
class OnInterrupt;
}

// A path as messages show it: relative to the working directory when it is below it, else as given.
std::string readable_path(const std::filesystem::path& path);

// The whole file; throws Error "Failed to read 'PATH': reason".
std::string read_file(const std::filesystem::path& path);

// The whole file, or nullopt with `reason` set (strerror's words) when it cannot be read.
std::optional<std::string> try_read_file(const std::filesystem::path& path, std::string& reason);

// A file written under a temporary name in the same directory and renamed into place by commit()
// (after fsync), so readers see the old file or the whole new one. Without commit() the destructor
// removes the temporary file (so does a stop signal): an exception or a crash leaves nothing under the
// final name.
class AtomicFile {
public:
    explicit AtomicFile(std::filesystem::path path, unsigned mode = 0644);
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    void write(std::string_view data);
    int fd() const { return m_fd.get(); }
    const std::filesystem::path& temp_path() const { return m_temp; }
    const std::filesystem::path& path() const { return m_path; }
    void commit();

private:
    std::filesystem::path m_path;
    std::filesystem::path m_temp;
    Fd m_fd;
    bool m_committed = false;
    std::unique_ptr<interrupt::OnInterrupt> m_on_interrupt;
};

// Writes `contents` to `path` through an AtomicFile (parent directories are created).
void write_file_atomic(const std::filesystem::path& path, std::string_view contents, unsigned mode = 0644);

// Removes a file or a directory tree when it goes out of scope, unless `keep` was set: work
// directories and half-made outputs do not outlive an exception or a stop signal (SIGINT, SIGTERM).
struct RemoveOnExit {
    explicit RemoveOnExit(std::filesystem::path removed);
    ~RemoveOnExit();
    RemoveOnExit(const RemoveOnExit&) = delete;
    RemoveOnExit& operator=(const RemoveOnExit&) = delete;

    const std::filesystem::path path;
    std::atomic<bool> keep = false;

private:
    std::unique_ptr<interrupt::OnInterrupt> m_on_interrupt;
};

// Removes `path` (a file or a tree) only when it lies strictly inside `owner` (both made absolute and
// normal, the parent of `path` with its links resolved): a name that came from input ("..", ".", a
// link) can never make imgbuild remove something it does not own. Throws Error otherwise.
void remove_inside(const std::filesystem::path& owner, const std::filesystem::path& path);

// An exclusive advisory lock (flock) on a lock file, held until destruction: keeps two imgbuild
// processes that share a cache or an output directory out of each other's way. The holder's process
// id is written into the file for the messages of others. The constructor waits for the lock, saying
// once at info level that it waits, for what and for which process; with `wait` false it throws
// Error (exit code 1) naming that process instead.
class FileLock {
public:
    FileLock(const std::filesystem::path& path, std::string_view what, bool wait = true);
    ~FileLock();
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;

private:
    Fd m_fd; // closing it releases the lock
};

// $XDG_CACHE_HOME/imgbuild, else ~/.cache/imgbuild (root's too), else /var/cache/imgbuild.
std::filesystem::path default_cache_dir();

} // namespace imgbuild
