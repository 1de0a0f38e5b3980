// imgbuild test IMAGE|BUILD|OUTDIR [--boot bios|uefi|both] [--upgrade-to REF] [--json]: boots the image
// under QEMU and checks it from inside; with --upgrade-to, upgrades the node, reboots and rolls back.

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
            "its enabled units active and masked units masked; the boot time (systemd-analyze) is reported.\n"
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
