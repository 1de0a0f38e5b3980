#pragma once
// The sandbox every program from a package or a recipe runs in (maintainer scripts, rpm scriptlets,
// dracut, postprocess scripts): bubblewrap inside a user namespace whose ids map to themselves, with no
// network, its own PID, IPC and UTS namespaces, a fresh /dev, /proc (its kernel knobs read-only) and
// /tmp, nothing of the host writable, only the capabilities package managers need (held in that user
// namespace only), a seccomp filter, and no descriptor of ours. docs/sandbox.md says what a script can
// and cannot do.

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "imgbuild/core/interrupt.hpp"
#include "imgbuild/core/process.hpp"

namespace imgbuild::install {

struct Sandbox {
    // How the sandbox sees the file system:
    //  - rootfs: `root` is `/` (writable), as a chroot would show it;
    //  - host_tools: the host's /usr (read-only) is `/`, `root` is at /run/imgbuild/root, for running
    //    the host's own programs (librpm) against the rootfs.
    enum class View { rootfs, host_tools };

    View view = View::rootfs;
    std::filesystem::path root;
    // Host files or directories shown read-only: {host path, path in the sandbox}.
    std::vector<std::pair<std::filesystem::path, std::filesystem::path>> read_only;
    // The whole environment of the program ("NAME=VALUE"); PATH is set when absent.
    std::vector<std::string> env;
    std::filesystem::path cwd = "/";
};

// Where the rootfs appears in the host_tools view.
inline const std::filesystem::path sandbox_root_mount = "/run/imgbuild/root";

// Runs `argv` in the sandbox. The exit status is a result; only a failure to set the sandbox up (the
// user namespace, the seccomp filter) or to start bubblewrap throws.
ProcessResult run_sandboxed(const Sandbox& sandbox, const std::vector<std::string>& argv,
                            std::function<void(std::string_view)> on_line = {});

// The bwrap command line for `argv`, the seccomp filters read from `seccomp_fds` (descriptors bwrap
// inherits). It runs as the sandbox only inside the user namespace run_sandboxed makes; shown in
// messages and used by tests.
std::vector<std::string> sandbox_command(const Sandbox& sandbox, const std::vector<std::string>& argv,
                                         const std::vector<int>& seccomp_fds = {});

// A copy-on-write view of a root whose files are hardlinks of the tree cache, for programs imgbuild
// does not control (maintainer scripts, postprocess scripts): rofiles-fuse --copyup shows the root at
// `mount`, and a write into a file with more than one link, or a change of its mode or owner, first
// copies it. Unmounted (and the mount point removed) when done. `purpose` names the work in errors.
class CopyOnWriteView {
public:
    CopyOnWriteView(const std::filesystem::path& root, std::filesystem::path mount, std::string_view purpose);
    ~CopyOnWriteView();
    const std::filesystem::path& path() const { return m_mount; }
    CopyOnWriteView(const CopyOnWriteView&) = delete;
    CopyOnWriteView& operator=(const CopyOnWriteView&) = delete;

private:
    std::filesystem::path m_mount;
    std::unique_ptr<interrupt::OnInterrupt> m_on_interrupt; // unmounts it when a stop signal ends the run
};

} // namespace imgbuild::install
