// Fd: the one owner of a file descriptor (see fd.hpp).

#include "imgbuild/core/fd.hpp"

namespace imgbuild {

void Fd::reset(int fd) {
    if (m_fd >= 0 && m_fd != fd) ::close(m_fd);
    m_fd = fd;
}

int Fd::close() {
    if (m_fd < 0) return 0;
    return ::close(release());
}

} // namespace imgbuild
