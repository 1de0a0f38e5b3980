// The sandbox's user namespace: a short-lived child unshares one, we write its identity maps and keep
// a descriptor of it, and the child exits. The namespace outlives the child through that descriptor.

#include "user_namespace.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "imgbuild/install/install.hpp"

namespace imgbuild::install {
namespace {

// One write of the whole map: the kernel accepts a map file written once, in one piece.
void write_proc_file(pid_t pid, const char* file, std::string_view content) {
    std::string path = fmt::format("/proc/{}/{}", pid, file);
    FileDescriptor fd{::open(path.c_str(), O_WRONLY | O_CLOEXEC)};
    if (fd.fd < 0 || ::write(fd.fd, content.data(), content.size()) != static_cast<ssize_t>(content.size()))
        throw InstallError("Failed to create the sandbox's user namespace: cannot write '{}': {}", path,
                           std::strerror(errno));
}

// The child, once unshared, waits until we have its namespace; killed with us if we die first.
struct Child {
    pid_t pid = -1;
    int done = -1; // our end of the pipe the child waits on; closing it lets the child exit
    ~Child() {
        if (done >= 0) ::close(done);
        if (pid > 0)
            while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
            }
    }
};

} // namespace

UserNamespace::UserNamespace() {
    int ready[2], done[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) throw InstallError("Failed to create a pipe: {}", std::strerror(errno));
    if (::pipe2(done, O_CLOEXEC) != 0) {
        int error = errno;
        ::close(ready[0]);
        ::close(ready[1]);
        throw InstallError("Failed to create a pipe: {}", std::strerror(error));
    }
    Child child;
    child.pid = ::fork();
    if (child.pid == 0) {
        // Only async-signal-safe calls: the parent may have threads.
        ::close(done[1]);
        int result = ::unshare(CLONE_NEWUSER) == 0 ? 0 : errno;
        (void)!::write(ready[1], &result, sizeof result);
        char byte;
        (void)!::read(done[0], &byte, 1);
        _exit(0);
    }
    int fork_error = errno;
    ::close(ready[1]);
    ::close(done[0]);
    child.done = done[1];
    if (child.pid < 0) {
        ::close(ready[0]);
        throw InstallError("Failed to create the sandbox's user namespace: cannot fork: {}", std::strerror(fork_error));
    }
    int result = -1;
    bool reported = ::read(ready[0], &result, sizeof result) == sizeof result;
    ::close(ready[0]);
    if (!reported || result != 0)
        throw InstallError("Failed to create the sandbox's user namespace: {} (user namespaces must be enabled: "
                           "sysctl user.max_user_namespaces > 0)",
                           reported ? std::strerror(result) : "the helper process died");

    constexpr std::string_view identity = "0 0 4294967295\n";
    write_proc_file(child.pid, "uid_map", identity);
    write_proc_file(child.pid, "setgroups", "allow");
    write_proc_file(child.pid, "gid_map", identity);
    std::string ns = fmt::format("/proc/{}/ns/user", child.pid);
    m_fd.fd = ::open(ns.c_str(), O_RDONLY | O_CLOEXEC);
    if (m_fd.fd < 0)
        throw InstallError("Failed to create the sandbox's user namespace: cannot open '{}': {}", ns,
                           std::strerror(errno));
}

} // namespace imgbuild::install
