// bubblewrap command lines, and the sandbox around them. bwrap runs in a user namespace of ours whose
// ids map to themselves (files get the owners scripts give them), so the capabilities it keeps hold only
// in namespaces that namespace owns, not over the host; /proc's writable kernel knobs are read-only, a
// seccomp filter denies the calls that reach past the sandbox, and no descriptor of ours leaks in.

#include "imgbuild/install/sandbox.hpp"

#include <algorithm>

#include <fmt/ranges.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/log.hpp"
#include "seccomp.hpp"
#include "user_namespace.hpp"

namespace imgbuild::install {
namespace {

namespace fs = std::filesystem;

// What dpkg, rpm and maintainer scripts need: owners, modes and set-id bits of files, file
// capabilities (setcap in a postinst), switching users (su, runuser), chroot (rpm's scriptlets) and
// signals to their own children of other users. Not CAP_DAC_READ_SEARCH (open_by_handle_at),
// CAP_MKNOD, CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_NET_*: all held in the user namespace only, anyway.
const char* const capabilities[] = {"CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FOWNER",  "CAP_FSETID",
                                    "CAP_SETUID", "CAP_SETGID",       "CAP_SETFCAP", "CAP_SYS_CHROOT",
                                    "CAP_KILL",   "CAP_AUDIT_WRITE"};

// /proc entries a process that is uid 0 on the host could write through file modes alone (the
// sandbox's root is the host's uid 0; proc checks /proc/sys by uid, not by capability): shown
// read-only. bwrap covers sysrq-trigger, irq and bus itself but skips /proc/sys, whose directory
// denies W_OK even to root while its files allow it.
const char* const proc_read_only[] = {"sys", "sysrq-trigger", "irq", "bus", "fs", "pressure", "mtrr"};
// Entries that show the host's hardware or the kernel's memory, hidden as Docker hides them.
const char* const proc_hidden_dirs[] = {"acpi", "scsi", "asound"};
const char* const proc_hidden_files[] = {"kcore", "keys", "timer_list", "timer_stats", "sched_debug", "latency_stats"};

// A fresh /proc at `dest`, covered as above. The kernel is the host's, so its /proc lists the entries.
void add_proc(std::vector<std::string>& command, const std::string& dest) {
    command.insert(command.end(), {"--proc", dest});
    std::error_code ec;
    for (const char* entry : proc_read_only) {
        fs::path host = fs::path("/proc") / entry;
        if (fs::exists(host, ec)) command.insert(command.end(), {"--ro-bind", host.string(), dest + "/" + entry});
    }
    for (const char* entry : proc_hidden_dirs)
        if (fs::is_directory(fs::path("/proc") / entry, ec))
            command.insert(command.end(), {"--tmpfs", dest + "/" + entry, "--remount-ro", dest + "/" + entry});
    for (const char* entry : proc_hidden_files)
        if (fs::exists(fs::path("/proc") / entry, ec))
            command.insert(command.end(), {"--ro-bind", "/dev/null", dest + "/" + entry});
}

} // namespace

std::vector<std::string> sandbox_command(const Sandbox& sandbox, const std::vector<std::string>& argv,
                                         const std::vector<int>& seccomp_fds) {
    std::vector<std::string> command{"bwrap",         "--die-with-parent", "--new-session", "--unshare-net",
                                     "--unshare-pid", "--unshare-ipc",     "--unshare-uts", "--unshare-cgroup-try",
                                     "--hostname",    "imgbuild",          "--cap-drop",    "ALL"};
    for (const char* capability : capabilities) command.insert(command.end(), {"--cap-add", capability});

    fs::path root = fs::absolute(sandbox.root).lexically_normal();
    if (sandbox.view == Sandbox::View::rootfs) {
        command.insert(command.end(), {"--bind", root.string(), "/", "--dev", "/dev"});
        add_proc(command, "/proc");
        command.insert(command.end(), {"--tmpfs", "/tmp", "--tmpfs", "/run"});
    } else {
        // The host's programs and libraries, read-only; nothing else of the host.
        command.insert(command.end(), {"--ro-bind", "/usr", "/usr"});
        for (const char* dir : {"bin", "sbin", "lib", "lib64", "lib32", "libx32"}) {
            std::error_code ec;
            fs::path host = fs::path("/") / dir;
            if (fs::is_symlink(host, ec))
                command.insert(command.end(), {"--symlink", fs::read_symlink(host, ec).string(), host.string()});
            else if (fs::is_directory(host, ec))
                command.insert(command.end(), {"--ro-bind", host.string(), host.string()});
        }
        if (fs::exists("/etc/ld.so.cache"))
            command.insert(command.end(), {"--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"});
        std::string mount = sandbox_root_mount.string();
        command.insert(command.end(), {"--dev", "/dev"});
        add_proc(command, "/proc");
        command.insert(command.end(), {"--tmpfs", "/tmp", "--bind", root.string(), mount,
                                       // what rpm's chroot needs inside the rootfs (docs/design.md §5)
                                       "--dev", mount + "/dev"});
        add_proc(command, mount + "/proc");
        command.insert(command.end(), {"--tmpfs", mount + "/tmp"});
    }
    for (const auto& [host, inside] : sandbox.read_only)
        command.insert(command.end(), {"--ro-bind", host.string(), inside.string()});
    for (int fd : seccomp_fds) command.insert(command.end(), {"--add-seccomp-fd", std::to_string(fd)});

    command.push_back("--clearenv");
    bool has_path = std::any_of(sandbox.env.begin(), sandbox.env.end(),
                                [](const std::string& e) { return e.starts_with("PATH="); });
    if (!has_path)
        command.insert(command.end(),
                       {"--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"});
    for (const auto& entry : sandbox.env) {
        auto equals = entry.find('=');
        command.insert(command.end(), {"--setenv", entry.substr(0, equals),
                                       equals == std::string::npos ? "" : entry.substr(equals + 1)});
    }
    command.insert(command.end(), {"--chdir", sandbox.cwd.string(), "--"});
    command.insert(command.end(), argv.begin(), argv.end());
    return command;
}

ProcessResult run_sandboxed(const Sandbox& sandbox, const std::vector<std::string>& argv,
                            std::function<void(std::string_view)> on_line) {
    UserNamespace user_namespace;
    Fd filter = seccomp_program_fd();
    Fd personality = personality_program_fd();
    ProcessOptions options;
    options.argv = sandbox_command(sandbox, argv, {filter.get(), personality.get()});
    options.pass_fds = {filter.get(), personality.get()};
    options.user_namespace = user_namespace.fd();
    options.on_line = std::move(on_line);
    log::trace("sandbox: {}", fmt::join(options.argv, " "));
    return run_process(options);
}

CopyOnWriteView::CopyOnWriteView(const fs::path& root, fs::path mount, std::string_view purpose)
    : m_mount(std::move(mount)) {
    if (find_program("rofiles-fuse").empty())
        throw Error("Failed to {}: rofiles-fuse (Debian's ostree package) is missing, and the root's files are "
                    "shared with the cache",
                    purpose);
    fs::create_directories(m_mount);
    // A FUSE mount answers only its mounter's uid and gid unless allow_other: the maintainer and
    // postprocess scripts that switch to a system user (su, runuser) would get EACCES on every file.
    // default_permissions has the kernel check each file's mode and owner, so the mount lets other
    // users of the host, and those scripts, do what the root's own permissions let them, no more.
    run_checked<Error>(ProcessOptions{{"rofiles-fuse", "--copyup", "-o", "allow_other,default_permissions",
                                       root.string(), m_mount.string()}},
                       fmt::format("show the root copy-on-write to {}", purpose));
    m_on_interrupt = std::make_unique<interrupt::OnInterrupt>([mount = m_mount] { interrupt::unmount_below(mount); });
}

CopyOnWriteView::~CopyOnWriteView() {
    m_on_interrupt.reset();
    auto result = run_process(ProcessOptions{{"umount", m_mount.string()}});
    if (!result.ok()) log::warn("could not unmount {}: {}", m_mount.string(), result.tail());
    std::error_code ec;
    fs::remove(m_mount, ec);
}

} // namespace imgbuild::install
