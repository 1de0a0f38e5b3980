#pragma once
// The seccomp filter of the sandbox: the system calls a package script, dracut or a postprocess script
// has no business making (file handles, mounts, new namespaces, kernel modules, kexec, BPF, tracing
// other processes, keyrings, clocks, swap, reboot, …) fail with EPERM; the rest are allowed.

#include <string>
#include <string_view>
#include <vector>

#include "imgbuild/core/files.hpp"

namespace imgbuild::install {

// One denied call and why, for docs/sandbox.md and the tests.
struct DeniedCall {
    std::string_view name;
    std::string_view why;
};
const std::vector<DeniedCall>& denied_calls();

// The filters as classic BPF for this machine's ABI (what bwrap's --add-seccomp-fd reads), each made
// once per process: the denylist (libseccomp's), and the one rule libseccomp cannot say (personality).
const std::string& seccomp_program();
const std::string& personality_program();

// A new memfd holding the program, read from its start (bwrap reads it to the end and closes it).
Fd seccomp_program_fd();
Fd personality_program_fd();

} // namespace imgbuild::install
