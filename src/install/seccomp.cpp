// The sandbox's seccomp filter, built with libseccomp for this machine's ABI and handed to bwrap as
// classic BPF. A denylist, not an allowlist: maintainer scripts run whatever a package ships, and a
// missing allowlist entry would break installs in ways nobody can predict; the denied calls are the
// ones that reach past the sandbox (file handles, mounts, namespaces) or into the kernel itself.

#include "seccomp.hpp"

#include <linux/filter.h>
#include <linux/personality.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <seccomp.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <iterator>

#include "imgbuild/install/install.hpp"
#include "wrap/c_ptr.hpp"

namespace imgbuild::install {
namespace {

using FilterContext = wrap::CPtr<void, seccomp_release>;

// Calls newer than the libseccomp this is built with may have no name in it; since Linux 5.1 a new
// call has the same number on x86_64, aarch64 and the other common architectures (the 424+ table),
// so the number is enough.
struct NewCall {
    std::string_view name;
    int number;
};
constexpr NewCall new_calls[] = {{"open_tree_attr", 467}};

// The namespace flags of clone() and unshare(): a script may fork, but not make namespaces.
constexpr unsigned long namespace_flags[] = {CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                             CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET, CLONE_NEWTIME};

// socket() families a build needs: local sockets, loopback IP (the network namespace is empty) and
// netlink (ip, udev tools). Everything else (AF_VSOCK reaches the hypervisor, AF_ALG the kernel's
// crypto, AF_PACKET raw frames, …) fails as if the kernel lacked it.
constexpr int allowed_families[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};

int syscall_number(std::string_view name) {
    int number = seccomp_syscall_resolve_name(std::string(name).c_str());
    if (number != __NR_SCMP_ERROR) return number;
    for (const auto& call : new_calls)
        if (call.name == name) return call.number;
    return __NR_SCMP_ERROR;
}

void add_rule(const FilterContext& filter, uint32_t action, std::string_view name,
              std::initializer_list<scmp_arg_cmp> conditions = {}) {
    int number = syscall_number(name);
    // A name neither libseccomp nor new_calls knows has no call to deny here. (A call this architecture
    // lacks, umount on x86_64, resolves to a pseudo number libseccomp leaves out of the program.)
    if (number == __NR_SCMP_ERROR) return;
    int result = seccomp_rule_add_array(filter.get(), action, number, static_cast<unsigned>(conditions.size()),
                                        conditions.size() ? conditions.begin() : nullptr);
    if (result < 0)
        throw SysError<InstallError>(-result, "build the sandbox's seccomp filter: cannot add a rule for {}", name);
}

scmp_arg_cmp argument(unsigned index, scmp_compare op, scmp_datum_t a, scmp_datum_t b = 0) {
    return scmp_arg_cmp{index, op, a, b};
}

bool is_allowed_family(int family) {
    for (int allowed : allowed_families)
        if (family == allowed) return true;
    return false;
}

std::string build_program() {
    FilterContext filter{seccomp_init(SCMP_ACT_ALLOW)};
    if (!filter) throw InstallError("Failed to build the sandbox's seccomp filter: seccomp_init failed");
    // Calls through another ABI (i386's int 0x80, x32) would bypass rules made for the native numbers:
    // the process is killed instead.
    if (int result = seccomp_attr_set(filter.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); result < 0)
        throw SysError<InstallError>(-result, "build the sandbox's seccomp filter");

    for (const auto& call : denied_calls()) {
        if (call.name == "clone" || call.name == "unshare" || call.name == "clone3" || call.name == "personality" ||
            call.name == "socket" || call.name == "ioctl")
            continue; // the calls denied only with some arguments, below
        add_rule(filter, SCMP_ACT_ERRNO(EPERM), call.name);
    }
    for (unsigned long flag : namespace_flags) {
        add_rule(filter, SCMP_ACT_ERRNO(EPERM), "clone", {argument(0, SCMP_CMP_MASKED_EQ, flag, flag)});
        add_rule(filter, SCMP_ACT_ERRNO(EPERM), "unshare", {argument(0, SCMP_CMP_MASKED_EQ, flag, flag)});
    }
    // clone3 passes its flags in memory, which a filter cannot read; with ENOSYS glibc falls back to
    // clone, whose flags it can.
    add_rule(filter, SCMP_ACT_ERRNO(ENOSYS), "clone3");
    // TIOCSTI pushes characters into a terminal's input, TIOCLINUX reads and writes the console: both
    // ways to type commands into a shell outside (the session of bwrap's --new-session has no terminal;
    // this holds when one is passed down anyway). The kernel reads the request as 32 bits.
    for (scmp_datum_t request : {scmp_datum_t{TIOCSTI}, scmp_datum_t{TIOCLINUX}})
        add_rule(filter, SCMP_ACT_ERRNO(EPERM), "ioctl", {argument(1, SCMP_CMP_MASKED_EQ, 0xffffffffUL, request)});
    // socket(): every family but the allowed ones, as single comparisons (one per value below the
    // last allowed family, then everything above it).
    int last_allowed = 0;
    for (int family : allowed_families) last_allowed = std::max(last_allowed, family);
    for (int family = 0; family < last_allowed; ++family)
        if (!is_allowed_family(family))
            add_rule(filter, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket",
                     {argument(0, SCMP_CMP_EQ, static_cast<scmp_datum_t>(family))});
    add_rule(filter, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket",
             {argument(0, SCMP_CMP_GT, static_cast<scmp_datum_t>(last_allowed))});

    Fd memfd{::memfd_create("imgbuild-seccomp", MFD_CLOEXEC)};
    if (!memfd) throw SysError<InstallError>(errno, "build the sandbox's seccomp filter: memfd_create");
    if (int result = seccomp_export_bpf(filter.get(), memfd.get()); result < 0)
        throw SysError<InstallError>(-result, "build the sandbox's seccomp filter: cannot export it");
    std::string program;
    if (::lseek(memfd.get(), 0, SEEK_SET) != 0)
        throw SysError<InstallError>(errno, "build the sandbox's seccomp filter: lseek");
    char buffer[4096];
    for (ssize_t n; (n = ::read(memfd.get(), buffer, sizeof buffer)) != 0;) {
        if (n < 0) throw SysError<InstallError>(errno, "build the sandbox's seccomp filter: read");
        program.append(buffer, static_cast<std::size_t>(n));
    }
    return program;
}

// personality() may only ask for the current persona (0xffffffff) or set the default one (PER_LINUX,
// PER_LINUX32, with or without UNAME26), as Docker's profile allows: the other flags switch off
// ASLR, map page zero, or make every readable page executable, which only exploits want. "Every value
// but these five" takes two comparisons on one argument, which libseccomp refuses, so this is a second,
// small filter written out in BPF.
std::string build_personality_program() {
    uint32_t arch = seccomp_arch_native();
    int number = syscall_number("personality");
    // seccomp_data: nr at 0, arch at 4, instruction_pointer at 8, args from 16 (64 bits each).
    constexpr uint32_t arg0_low = offsetof(seccomp_data, args) + (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 0 : 4);
    constexpr uint32_t arg0_high = offsetof(seccomp_data, args) + (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 4 : 0);
    constexpr uint32_t allowed[] = {PER_LINUX, PER_LINUX32, UNAME26, uint32_t{PER_LINUX32} | uint32_t{UNAME26},
                                    0xffffffff};
    constexpr uint8_t n_allowed = std::size(allowed);
    auto statement = [](uint16_t code, uint32_t k) { return sock_filter{code, 0, 0, k}; };
    auto jump_if_equal = [](uint32_t k, uint8_t if_true, uint8_t if_false) {
        return sock_filter{BPF_JMP | BPF_JEQ | BPF_K, if_true, if_false, k};
    };
    // Jumps count the instructions they skip. Layout: 0-6 checks, 7.. one comparison per allowed
    // value, then `deny` (7 + n) and `allow` (8 + n).
    constexpr uint8_t deny = 7 + n_allowed, allow = 8 + n_allowed;
    std::vector<sock_filter> code{
        statement(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        jump_if_equal(arch, 0, allow - 2), // another ABI: the first filter kills it
        statement(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        jump_if_equal(static_cast<uint32_t>(number), 0, allow - 4),
        statement(BPF_LD | BPF_W | BPF_ABS, arg0_high),
        jump_if_equal(0, 0, deny - 6),
        statement(BPF_LD | BPF_W | BPF_ABS, arg0_low),
    };
    for (uint8_t i = 0; i < n_allowed; ++i)
        code.push_back(jump_if_equal(allowed[i], static_cast<uint8_t>(allow - (7 + i) - 1), 0));
    code.push_back(statement(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)));
    code.push_back(statement(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    return std::string(reinterpret_cast<const char*>(code.data()), code.size() * sizeof(sock_filter));
}

Fd memfd_with(const char* name, const std::string& content) {
    Fd memfd{::memfd_create(name, MFD_CLOEXEC)};
    if (!memfd) throw SysError<InstallError>(errno, "hand the sandbox its seccomp filter: memfd_create");
    for (std::size_t written = 0; written < content.size();) {
        ssize_t n = ::write(memfd.get(), content.data() + written, content.size() - written);
        if (n < 0) throw SysError<InstallError>(errno, "hand the sandbox its seccomp filter: write");
        written += static_cast<std::size_t>(n);
    }
    if (::lseek(memfd.get(), 0, SEEK_SET) != 0)
        throw SysError<InstallError>(errno, "hand the sandbox its seccomp filter: lseek");
    return memfd;
}

} // namespace

const std::vector<DeniedCall>& denied_calls() {
    static const std::vector<DeniedCall> calls{
        {"open_by_handle_at", "reopens any file of a filesystem by its handle, past the sandbox's root (\"shocker\")"},
        {"name_to_handle_at", "makes the handles open_by_handle_at takes"},
        {"mount", "mounts could hide or replace what the sandbox shows"},
        {"umount", "unmounts could uncover what the sandbox hides"},
        {"umount2", "unmounts could uncover what the sandbox hides"},
        {"pivot_root", "changes the root of the mount namespace"},
        {"move_mount", "the new mount API"},
        {"open_tree", "the new mount API: clones mounts"},
        {"open_tree_attr", "the new mount API: clones mounts"},
        {"fsopen", "the new mount API"},
        {"fsmount", "the new mount API"},
        {"fsconfig", "the new mount API"},
        {"fspick", "the new mount API: reconfigures a mounted filesystem"},
        {"mount_setattr", "changes mount flags (read-only, nosuid)"},
        {"setns", "joins another namespace"},
        {"unshare", "with a namespace flag: new namespaces are where the kernel's attack surface grows"},
        {"clone", "with a namespace flag, as unshare"},
        {"clone3", "its flags are out of a filter's reach (ENOSYS, so libc falls back to clone)"},
        {"init_module", "loads a kernel module"},
        {"finit_module", "loads a kernel module"},
        {"delete_module", "unloads a kernel module"},
        {"kexec_load", "replaces the running kernel"},
        {"kexec_file_load", "replaces the running kernel"},
        {"bpf", "loads programs into the kernel"},
        {"perf_event_open", "observes the kernel and other processes"},
        {"userfaultfd", "a staple of kernel exploits (stalls the kernel mid-copy)"},
        {"io_uring_setup", "a second system call interface, with its own history of kernel bugs"},
        {"io_uring_enter", "a second system call interface"},
        {"io_uring_register", "a second system call interface"},
        {"ptrace", "reads and writes other processes"},
        {"process_vm_readv", "reads other processes' memory"},
        {"process_vm_writev", "writes other processes' memory"},
        {"pidfd_getfd", "takes a descriptor from another process"},
        {"kcmp", "compares kernel objects of other processes"},
        {"keyctl", "the kernel keyrings are not the sandbox's"},
        {"add_key", "the kernel keyrings are not the sandbox's"},
        {"request_key", "the kernel keyrings are not the sandbox's"},
        {"reboot", "reboots or halts"},
        {"swapon", "adds swap"},
        {"swapoff", "removes swap"},
        {"syslog", "reads or clears the kernel log"},
        {"acct", "process accounting to a file"},
        {"quotactl", "disk quotas of the host's filesystems"},
        {"quotactl_fd", "disk quotas of the host's filesystems"},
        {"iopl", "direct hardware port access"},
        {"ioperm", "direct hardware port access"},
        {"settimeofday", "sets the host's clock"},
        {"clock_settime", "sets the host's clock"},
        {"clock_adjtime", "adjusts the host's clock"},
        {"adjtimex", "adjusts the host's clock"},
        {"lookup_dcookie", "kernel profiling"},
        {"fanotify_init", "watches whole filesystems"},
        {"uselib", "obsolete library loading"},
        {"vhangup", "hangs up the terminal"},
        {"personality", "other than the default persona: switches off ASLR, maps page zero"},
        {"socket", "families other than unix, inet, inet6 and netlink (EAFNOSUPPORT)"},
        {"ioctl", "TIOCSTI and TIOCLINUX: typing into a terminal"},
    };
    return calls;
}

const std::string& seccomp_program() {
    static const std::string program = build_program();
    return program;
}

const std::string& personality_program() {
    static const std::string program = build_personality_program();
    return program;
}

Fd seccomp_program_fd() { return memfd_with("imgbuild-seccomp", seccomp_program()); }

Fd personality_program_fd() { return memfd_with("imgbuild-seccomp-personality", personality_program()); }

} // namespace imgbuild::install
