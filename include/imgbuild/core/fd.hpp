#pragma once
// The one owner of a file descriptor (ccache's Fd, Nix's AutoCloseFD): move-only, closed when its
// owner ends, handed on with release(). Raw descriptors are only ever borrowed through get().

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "imgbuild/core/error.hpp"

namespace imgbuild {

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : m_fd(fd) {}
    ~Fd() { close(); }
    Fd(Fd&& other) noexcept : m_fd(other.release()) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;

    int get() const { return m_fd; }
    explicit operator bool() const { return m_fd >= 0; }

    // The descriptor, no longer owned (-1 left behind).
    [[nodiscard]] int release() {
        int fd = m_fd;
        m_fd = -1;
        return fd;
    }
    // Closes the descriptor held (if any) and owns `fd` instead.
    void reset(int fd = -1);
    // Closes it now; returns close(2)'s result (0 when none was held), for callers that check it.
    int close();

private:
    int m_fd = -1;
};

// Both ends of a pipe(2), each owned.
struct Pipe {
    Fd read;
    Fd write;
};

// A pipe with O_CLOEXEC (and `flags` added); throws SysError<ErrorType> "Failed to create a pipe: reason".
template <class ErrorType = Error>
Pipe make_pipe(int flags = 0) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC | flags) != 0) throw SysError<ErrorType>(errno, "create a pipe");
    return Pipe{Fd(ends[0]), Fd(ends[1])};
}

} // namespace imgbuild
