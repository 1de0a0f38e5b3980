// KVM or TCG. /dev/kvm can exist and still not run a stock kernel (nested virtualisation that hangs
// the guest, as on the machines imgbuild's CI runs on), so KVM is used only after a probe booted the
// image's own kernel with it: the kernel must get as far as looking for its root filesystem (it has
// none, and panics) within a few seconds. The verdict is kept in the cache for this host kernel and
// QEMU.

#include "accel.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "imgbuild/commit/commit.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/process.hpp"
#include "imgbuild/verify/verify.hpp"
#include "machine.hpp"

namespace imgbuild::verify {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr double probe_seconds = 15;

// /usr/lib/modules/<version>/vmlinuz of the commit, copied out of the repository; false (and why, at
// debug level) when it cannot be.
bool extract_kernel(const fs::path& repo_path, const std::string& commit, const std::string& version,
                    const fs::path& dest) {
    try {
        commit::copy_file_out(repo_path, commit, fmt::format("usr/lib/modules/{}/vmlinuz", version), dest);
        return true;
    } catch (const Error& e) {
        log::debug("no kernel to probe KVM with: {}", e.what());
        return false;
    }
}

std::string host_key() {
    utsname name{};
    ::uname(&name);
    auto qemu = run_process(ProcessOptions{{"qemu-system-x86_64", "--version"}});
    std::string version = qemu.output.substr(0, qemu.output.find('\n'));
    return fmt::format("{} {} | {}", name.release, name.version, version);
}

} // namespace

std::string choose_accel(const AccelProbe& probe) {
    if (probe.requested == "tcg") return "tcg";
    if (::access("/dev/kvm", R_OK | W_OK) != 0) {
        if (probe.requested == "kvm") throw VerifyError("Failed to use KVM: /dev/kvm is not there or not writable");
        log::info("boot tests run under TCG: no usable /dev/kvm");
        return "tcg";
    }
    if (probe.requested == "kvm") return "kvm";

    fs::path verdict_file = probe.cache_dir / "verify/kvm-probe.json";
    fs::create_directories(verdict_file.parent_path());
    // Tests that boot at once probe once: the others wait for the verdict.
    FileLock lock(probe.cache_dir / "verify/kvm-probe.lock", "the KVM probe of another imgbuild");
    std::string key = host_key();
    std::string reason;
    if (auto text = try_read_file(verdict_file, reason)) {
        auto verdict = json::parse(*text, nullptr, false);
        if (verdict.is_object() && verdict.value("host", "") == key) {
            bool works = verdict.value("works", false);
            log::info("boot tests run under {} (KVM probe of {}: {})", works ? "KVM" : "TCG",
                      verdict.value("date", "an earlier run"), verdict.value("detail", ""));
            return works ? "kvm" : "tcg";
        }
    }

    fs::path work = probe.work_dir / "kvm-probe";
    fs::create_directories(work);
    fs::path kernel = work / "vmlinuz";
    if (probe.repo.empty() || probe.kernel_version.empty() ||
        !extract_kernel(probe.repo, probe.commit, probe.kernel_version, kernel)) {
        log::info("boot tests run under TCG: no kernel to probe KVM with (the image's repository is not beside it)");
        return "tcg";
    }
    log::info("probing KVM: booting the image's kernel {} with it (at most {:.0f} s)", probe.kernel_version,
              probe_seconds);
    MachineSpec spec;
    spec.accel = "kvm";
    spec.kernel = kernel;
    spec.memory_mib = 512;
    spec.console_log = work / "console.log";
    spec.channel_log = work / "channel.log";
    bool works = false;
    {
        // Direct kernel boot, no disks: the kernel panics when it finds no root, which proves it ran.
        Machine machine(spec);
        auto deadline =
            Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(probe_seconds));
        works = machine.wait_console({"Kernel panic", "VFS: Unable to mount root"}, deadline) >= 0;
    }
    std::string detail = works ? "a stock kernel boots with it"
                               : fmt::format("a stock kernel made no progress with it in {:.0f} s", probe_seconds);
    log::info("boot tests run under {}: KVM probe: {}", works ? "KVM" : "TCG", detail);
    std::time_t now = std::time(nullptr);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::gmtime(&now));
    write_file_atomic(verdict_file,
                      json{{"host", key}, {"works", works}, {"detail", detail}, {"date", date}}.dump(2) + "\n");
    return works ? "kvm" : "tcg";
}

} // namespace imgbuild::verify
