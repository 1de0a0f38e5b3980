// bubblewrap command lines. Run as root, bwrap would keep almost every capability; the sandbox drops
// them all and adds back what dpkg, rpm and maintainer scripts need to set owners, modes, file
// capabilities and to chroot (rpm does, for scriptlets). CAP_MKNOD stays out: with it a script could
// create the host disk's device node and write to it. CAP_SYS_ADMIN and CAP_SYS_MODULE stay out too.

#include "imgbuild/install/sandbox.hpp"

#include <algorithm>

#include <fmt/ranges.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/log.hpp"

namespace imgbuild::install {
namespace {

namespace fs = std::filesystem;

const char* const capabilities[] = {"CAP_CHOWN",      "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
                                    "CAP_FSETID",     "CAP_SETUID",       "CAP_SETGID",          "CAP_SETFCAP",
                                    "CAP_SYS_CHROOT", "CAP_KILL",         "CAP_AUDIT_WRITE"};

} // namespace

std::vector<std::string> sandbox_command(const Sandbox& sandbox, const std::vector<std::string>& argv) {
    std::vector<std::string> command{"bwrap",         "--die-with-parent", "--new-session", "--unshare-net",
                                     "--unshare-pid", "--unshare-ipc",     "--unshare-uts", "--unshare-cgroup-try",
                                     "--hostname",    "imgbuild",          "--cap-drop",    "ALL"};
    for (const char* capability : capabilities) command.insert(command.end(), {"--cap-add", capability});

    fs::path root = fs::absolute(sandbox.root).lexically_normal();
    if (sandbox.view == Sandbox::View::rootfs) {
        command.insert(command.end(), {"--bind", root.string(), "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs",
                                       "/tmp", "--tmpfs", "/run"});
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
        command.insert(command.end(),
                       {"--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--bind", root.string(), mount,
                        // what rpm's chroot needs inside the rootfs (DESIGN.md §5)
                        "--dev", mount + "/dev", "--proc", mount + "/proc", "--tmpfs", mount + "/tmp"});
    }
    for (const auto& [host, inside] : sandbox.read_only)
        command.insert(command.end(), {"--ro-bind", host.string(), inside.string()});

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
    ProcessOptions options;
    options.argv = sandbox_command(sandbox, argv);
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
    run_checked<Error>(ProcessOptions{{"rofiles-fuse", "--copyup", root.string(), m_mount.string()}},
                       fmt::format("show the root copy-on-write to {}", purpose));
}

CopyOnWriteView::~CopyOnWriteView() {
    auto result = run_process(ProcessOptions{{"umount", m_mount.string()}});
    if (!result.ok()) log::warn("could not unmount {}: {}", m_mount.string(), result.tail());
    std::error_code ec;
    fs::remove(m_mount, ec);
}

} // namespace imgbuild::install
