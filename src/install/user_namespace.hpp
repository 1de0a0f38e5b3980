#pragma once
// The user namespace the sandbox runs in: every uid and gid maps to itself, so a file a package
// script creates or chowns gets the owner it asks for (in the image and on the disk alike), while the
// capabilities the sandbox keeps hold only over the namespaces created in it, never over the host's.

#include "imgbuild/core/files.hpp"

namespace imgbuild::install {

class UserNamespace {
public:
    // A new user namespace with the identity map ("0 0 4294967295" for uids and gids, setgroups
    // allowed). Throws InstallError when the kernel refuses one (user namespaces disabled, or we are
    // not root).
    UserNamespace();
    UserNamespace(const UserNamespace&) = delete;
    UserNamespace& operator=(const UserNamespace&) = delete;

    // A descriptor of the namespace (/proc/PID/ns/user of the process that made it), O_CLOEXEC; the
    // namespace lives as long as this object (or a process in it).
    int fd() const { return m_fd.get(); }

private:
    Fd m_fd;
};

} // namespace imgbuild::install
