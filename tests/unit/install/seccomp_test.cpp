// The sandbox's seccomp filters (src/install/seccomp.cpp), loaded into a child process: the denied
// calls fail with EPERM (clone3 with ENOSYS, foreign socket families with EAFNOSUPPORT), the same calls
// with harmless flags still work, and personality() takes only the default personas. Needs no root:
// a process may always restrict itself once it sets no_new_privs.

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "install/seccomp.hpp"

namespace imgbuild::install {
namespace {

// Runs `call` in a child under `program` and returns its errno (0 when the call succeeded), or
// 1000 + signal when the child died.
int errno_under(const std::string& program, const std::function<long()>& call) {
    pid_t pid = ::fork();
    if (pid == 0) {
        sock_fprog filter{static_cast<unsigned short>(program.size() / sizeof(sock_filter)),
                          reinterpret_cast<sock_filter*>(const_cast<char*>(program.data()))};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filter) != 0)
            _exit(255);
        long result = call();
        _exit(result < 0 ? errno : 0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

TEST(Seccomp, TheProgramsAreClassicBpf) {
    EXPECT_GT(seccomp_program().size(), 0u);
    EXPECT_EQ(seccomp_program().size() % sizeof(sock_filter), 0u);
    EXPECT_EQ(personality_program().size() % sizeof(sock_filter), 0u);
    EXPECT_GE(denied_calls().size(), 50u);
}

TEST(Seccomp, DeniedCallsFailWithEpermAndTheirHarmlessFormsStillWork) {
    const auto& program = seccomp_program();
    EXPECT_EQ(errno_under(program, [] { return ::unshare(CLONE_NEWUSER); }), EPERM);
    EXPECT_EQ(errno_under(program, [] { return ::unshare(CLONE_NEWNS | CLONE_FILES); }), EPERM);
    EXPECT_EQ(errno_under(program, [] { return ::unshare(CLONE_FILES); }), 0) << "no namespace flag: allowed";
    EXPECT_EQ(errno_under(program, [] { return ::syscall(SYS_clone3, nullptr, 0); }), ENOSYS);
    EXPECT_EQ(errno_under(program,
                          [] {
                              pid_t child = ::fork(); // glibc's fork: clone without namespace flags
                              if (child == 0) _exit(0);
                              return child < 0 ? -1L : static_cast<long>(::waitpid(child, nullptr, 0));
                          }),
              0);
    EXPECT_EQ(errno_under(program, [] { return ::syscall(SYS_open_by_handle_at, -1, nullptr, 0); }), EPERM);
    EXPECT_EQ(errno_under(program, [] { return ::syscall(SYS_mount, nullptr, nullptr, nullptr, 0, nullptr); }), EPERM);
    EXPECT_EQ(errno_under(program, [] { return ::syscall(SYS_ptrace, 0, 0, 0, 0); }), EPERM);
    EXPECT_EQ(errno_under(program, [] { return ::syscall(SYS_keyctl, 0, 0, 0, 0, 0); }), EPERM);
    EXPECT_EQ(errno_under(program, [] { return ::syscall(SYS_bpf, 0, nullptr, 0); }), EPERM);
    EXPECT_EQ(errno_under(program, [] { return ::syscall(467 /* open_tree_attr */, -1, nullptr, 0, nullptr, 0); }),
              EPERM);
    EXPECT_EQ(errno_under(program, [] { return static_cast<long>(::socket(AF_PACKET, SOCK_RAW, 0)); }), EAFNOSUPPORT);
    EXPECT_EQ(errno_under(program, [] { return static_cast<long>(::socket(40 /* AF_VSOCK */, SOCK_STREAM, 0)); }),
              EAFNOSUPPORT);
    int unix_socket = errno_under(program, [] { return static_cast<long>(::socket(AF_UNIX, SOCK_STREAM, 0)); });
    EXPECT_EQ(unix_socket, 0);
    // Everything else passes: the filter is a denylist.
    EXPECT_EQ(errno_under(program, [] { return static_cast<long>(::getpid()); }), 0);
    if (::geteuid() == 0) {
        EXPECT_EQ(errno_under(program, [] { return ::syscall(SYS_chroot, "/"); }), 0)
            << "chroot (rpm's scriptlets) is not the filter's";
    }
}

TEST(Seccomp, PersonalityTakesOnlyTheDefaultPersonas) {
    const auto& program = personality_program();
    EXPECT_EQ(errno_under(program, [] { return static_cast<long>(::personality(0xffffffff)); }), 0);
    EXPECT_EQ(errno_under(program, [] { return static_cast<long>(::personality(PER_LINUX)); }), 0);
    EXPECT_EQ(errno_under(program, [] { return static_cast<long>(::personality(PER_LINUX32)); }), 0);
    EXPECT_EQ(
        errno_under(program, [] { return static_cast<long>(::personality(unsigned{PER_LINUX} | unsigned{UNAME26})); }),
        0);
    EXPECT_EQ(errno_under(program, [] { return static_cast<long>(::personality(ADDR_NO_RANDOMIZE)); }), EPERM);
    EXPECT_EQ(errno_under(program, [] { return static_cast<long>(::personality(READ_IMPLIES_EXEC)); }), EPERM);
    EXPECT_EQ(errno_under(program, [] { return ::syscall(SYS_personality, 0x100000000UL); }), EPERM)
        << "bits above 32 are not the default persona";
    EXPECT_EQ(errno_under(program, [] { return static_cast<long>(::getpid()); }), 0) << "other calls pass";
}

} // namespace
} // namespace imgbuild::install
