#pragma once
// The verify stage: boots a built image under QEMU (SeaBIOS and OVMF, on a copy-on-write overlay),
// runs the recipe's checks inside the guest, and with an upgrade target upgrades the node, reboots into
// the new commit and rolls back. Our kola.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "imgbuild/core/error.hpp"

namespace imgbuild::verify {

// The test could not run (no QEMU, no firmware, a tool failed). Exit code 1, like a failed check.
class VerifyError : public Error {
public:
    using Error::Error;
};

struct TestOptions {
    // An image file inside a build directory (beside its manifest.json), a build directory, or an
    // output bundle (its builds/latest).
    std::filesystem::path target;
    std::vector<std::string> boot;   // bios, uefi; empty: every firmware the image boots with
    std::string upgrade_to;          // a ref, commit or build version in the bundle's repo; empty: no upgrade
    std::filesystem::path repo;      // the repository to upgrade from (default: the bundle's repo/)
    std::filesystem::path cache_dir; // work files, the KVM probe's verdict
    std::filesystem::path log_dir;   // serial logs (default: <build dir>/test)
    std::string accel = "auto";      // auto (KVM when a probe boots a kernel with it), kvm, tcg
    double boot_timeout = 600;       // seconds for each boot to report
    // A #cloud-config or #! script the node gets at its first boot through a NoCloud seed; the checks
    // then prove cloud-init applied it (hostname, written files, commands run).
    std::filesystem::path user_data;
    // Boot twice on a copy of the disk grown to this many times its size (0: the image's own size): the
    // root must fill it after the first boot, and the second boot must change nothing more.
    unsigned grow = 0;
};

struct CheckResult {
    std::string name;
    bool passed = false;
    std::string detail;
};

struct BootResult {
    std::string firmware; // bios, uefi
    std::string phase;    // boot, upgrade, upgraded, rollback, first-boot, second-boot
    std::string commit;   // the commit this boot had to run
    bool passed = false;
    std::optional<double> seconds; // host wall time from power-on (or reboot) to the first report line
    std::string systemd_analyze;   // "Startup finished in …"
    std::optional<double> kernel_seconds, initrd_seconds, userspace_seconds, total_seconds;
    std::vector<CheckResult> checks;
    std::string error; // why the boot gave no report (timeout, QEMU exited)
};

struct TestReport {
    std::string image;
    std::string name, version, commit;
    std::string accel; // kvm or tcg
    std::vector<BootResult> boots;
    std::filesystem::path log_dir;
    bool passed = false;

    nlohmann::json to_json() const;
    std::string to_text() const;
};

// Boots and checks. Throws UsageError for a target that is not an image of a build, VerifyError when
// QEMU cannot be run; a boot that fails its checks is in the report (passed = false).
TestReport run_test(const TestOptions& options);

} // namespace imgbuild::verify
