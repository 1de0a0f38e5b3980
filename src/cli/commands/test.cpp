// imgbuild test IMAGE|BUILD|OUTDIR [--boot bios|uefi|both] [--upgrade-to REF] [--user-data FILE]
// [--grow N] [--json]: boots the image under QEMU and checks it from inside; with --upgrade-to, upgrades
// the node, reboots and rolls back; with --user-data, provisions it through cloud-init's NoCloud; with
// --grow, boots twice on a copy of the disk N times as large.

#include <iostream>

#include "../command.hpp"
#include "imgbuild/verify/verify.hpp"

namespace imgbuild::cli {
namespace {

struct Test final : Command {
    verify::TestOptions options;
    std::string target;
    std::string boot = "image";
    std::string repo;
    std::string log_dir;
    std::string user_data;
    bool json = false;

    void setup(CLI::App& command) override {
        command
            .add_option("TARGET", target,
                        "An image of a build, a build directory, or an output bundle (its latest build)")
            ->required();
        command.add_option("--boot", boot, "bios, uefi, both (default: every firmware the image was made for)")
            ->check(CLI::IsMember({"bios", "uefi", "both", "image"}));
        command
            .add_option("--upgrade-to", options.upgrade_to,
                        "Upgrade the booted node to this build version, ref or commit of the bundle's repo, "
                        "reboot, check, roll back")
            ->type_name("REF");
        command
            .add_option("--repo", repo,
                        "With --upgrade-to: the repository to upgrade from (default: the bundle's repo/)")
            ->type_name("REPO");
        command
            .add_option("--user-data", user_data,
                        "Boot with this user data on a NoCloud seed (#cloud-config or a #! script) and check that "
                        "cloud-init applied it: hostname, write_files, runcmd or the script")
            ->type_name("FILE");
        command
            .add_option("--grow", options.grow,
                        "Boot on a copy of the disk N times its size: the root partition and filesystem must fill "
                        "it, and a second boot must change nothing more")
            ->type_name("N")
            ->check(CLI::Range(2u, 64u));
        command.add_option("--accel", options.accel, "auto (KVM only when a probe boots a kernel with it), kvm, tcg")
            ->check(CLI::IsMember({"auto", "kvm", "tcg"}))
            ->capture_default_str();
        command.add_option("--timeout", options.boot_timeout, "Seconds each boot may take to report")
            ->capture_default_str();
        command.add_option("--log-dir", log_dir, "Where the serial logs go (default: <build>/test/)")->type_name("DIR");
        command.add_flag("--json", json, "Print the report as JSON");
        command.footer(
            "Boots the image under qemu-system-x86_64 (SeaBIOS for bios, OVMF for uefi; TCG unless KVM works here)\n"
            "on a copy-on-write overlay, with no network. At GRUB's menu the kernel command line gets\n"
            "systemd.run= for a check program on an extra disk (nothing is added to the image); its results come\n"
            "back on a second serial port. Checks: multi-user reached with no failed units, the booted commit,\n"
            "/usr read-only and /etc, /var writable, the kernel, every sysctl and modules-load entry of the recipe,\n"
            "its enabled units active and masked units masked, no [FAILED] or 'Failed to' line on the console,\n"
            "cloud-init not left running or failed, and with containerd its CRI plugin, runc with the systemd\n"
            "cgroup driver, overlayfs and a container run from a busybox root filesystem; the boot time\n"
            "(systemd-analyze) is reported.\n"
            "Exit 0 only when every check passed.");
    }

    int run(const GlobalOptions& global) override {
        options.target = target;
        if (boot == "both")
            options.boot = {"bios", "uefi"};
        else if (boot != "image")
            options.boot = {boot};
        options.repo = repo;
        options.log_dir = log_dir;
        options.user_data = user_data;
        options.cache_dir = global.cache();
        auto report = verify::run_test(options);
        if (json)
            std::cout << report.to_json().dump(2) << '\n';
        else
            std::cout << report.to_text();
        return report.passed ? 0 : static_cast<int>(ExitCode::failed);
    }
};

} // namespace

std::unique_ptr<Command> make_test() { return std::make_unique<Test>(); }

} // namespace imgbuild::cli
