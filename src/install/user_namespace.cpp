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
    Fd fd{::open(path.c_str(), O_WRONLY | O_CLOEXEC)};
    if (!fd || ::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()))
        throw SysError<InstallError>(errno, "create the sandbox's user namespace: cannot write '{}'", path);
}

// The child, once unshared, waits until we have its namespace; killed with us if we die first.
struct Child {
    pid_t pid = -1;
    Fd done; // our end of the pipe the child waits on; closing it lets the child exit
    ~Child() {
        done.close(); // before the wait, which it ends
        if (pid > 0)
            while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
            }
    }
};

} // namespace

UserNamespace::UserNamespace() {
    Pipe ready = make_pipe<InstallError>();
    Pipe done = make_pipe<InstallError>();
    Child child;
    child.pid = ::fork();
    if (child.pid == 0) {
        // Only async-signal-safe calls: the parent may have threads.
        ::close(done.write.get());
        int result = ::unshare(CLONE_NEWUSER) == 0 ? 0 : errno;
        (void)!::write(ready.write.get(), &result, sizeof result);
        char byte;
        (void)!::read(done.read.get(), &byte, 1);
        _exit(0);
    }
    int fork_error = errno;
    ready.write.close();
    done.read.close();
    child.done = std::move(done.write);
    if (child.pid < 0) throw SysError<InstallError>(fork_error, "create the sandbox's user namespace: cannot fork");
    int result = -1;
    bool reported = ::read(ready.read.get(), &result, sizeof result) == sizeof result;
    ready.read.close();
    if (!reported || result != 0)
        throw InstallError("Failed to create the sandbox's user namespace: {} (user namespaces must be enabled: "
                           "sysctl user.max_user_namespaces > 0)",
                           reported ? errno_text(result) : "the helper process died");

    constexpr std::string_view identity = "0 0 4294967295\n";
    write_proc_file(child.pid, "uid_map", identity);
    write_proc_file(child.pid, "setgroups", "allow");
    write_proc_file(child.pid, "gid_map", identity);
    std::string ns = fmt::format("/proc/{}/ns/user", child.pid);
    m_fd.reset(::open(ns.c_str(), O_RDONLY | O_CLOEXEC));
    if (!m_fd) throw SysError<InstallError>(errno, "create the sandbox's user namespace: cannot open '{}'", ns);
}

} // namespace imgbuild::install
