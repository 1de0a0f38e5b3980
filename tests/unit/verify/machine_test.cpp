// The QEMU command line of a boot test: no network, the console on stdio and the checks' channel on
// the second serial port, the disks in fixed PCI slots (the program must be /dev/vdb), the image
// behind an overlay, OVMF for UEFI, TCG's flags unless KVM was chosen.

#include "verify/machine.hpp"

#include <algorithm>

#include <gtest/gtest.h>

namespace imgbuild::verify {
namespace {

bool has(const std::vector<std::string>& argv, const std::string& arg) {
    return std::find(argv.begin(), argv.end(), arg) != argv.end();
}

std::string after(const std::vector<std::string>& argv, const std::string& flag, std::size_t nth = 0) {
    for (std::size_t i = 0; i + 1 < argv.size(); ++i)
        if (argv[i] == flag && nth-- == 0) return argv[i + 1];
    return {};
}

MachineSpec spec() {
    MachineSpec spec;
    spec.disk = "/w/overlay.qcow2";
    spec.program_disk = "/w/checks.img";
    spec.console_log = "/w/console.log";
    spec.channel_log = "/w/checks.log";
    return spec;
}

TEST(QemuCommand, BiosUnderTcg) {
    auto argv = qemu_command(spec());
    EXPECT_EQ(argv.front(), "qemu-system-x86_64");
    EXPECT_EQ(after(argv, "-accel"), "tcg,thread=multi");
    EXPECT_EQ(after(argv, "-cpu"), "max");
    EXPECT_EQ(after(argv, "-nic"), "none");
    EXPECT_EQ(after(argv, "-serial", 0), "stdio");
    EXPECT_EQ(after(argv, "-serial", 1), "file:/w/checks.log");
    EXPECT_EQ(after(argv, "-drive", 0), "if=none,id=root,file=/w/overlay.qcow2,format=qcow2");
    EXPECT_EQ(after(argv, "-device", 0), "virtio-blk-pci,drive=root,bootindex=0,addr=0x8");
    EXPECT_EQ(after(argv, "-drive", 1), "if=none,id=checks,file=/w/checks.img,format=raw,readonly=on");
    EXPECT_EQ(after(argv, "-device", 1), "virtio-blk-pci,drive=checks,serial=imgbuild-test,addr=0x9");
    EXPECT_FALSE(has(argv, "-bios"));
    for (const auto& arg : argv) EXPECT_EQ(arg.find("pflash"), std::string::npos) << "SeaBIOS is QEMU's default";
}

TEST(QemuCommand, UefiWithUpdatesUnderKvm) {
    auto machine = spec();
    machine.firmware = "uefi";
    machine.accel = "kvm";
    machine.updates_disk = "/w/updates.img";
    machine.ovmf_vars = "/w/vars.fd";
    auto argv = qemu_command(machine);
    EXPECT_EQ(after(argv, "-accel"), "kvm");
    EXPECT_EQ(after(argv, "-cpu"), "host");
    EXPECT_EQ(after(argv, "-device", 2), "virtio-blk-pci,drive=updates,serial=imgbuild-updates,addr=0xa");
    if (ovmf_files().first.empty()) GTEST_SKIP() << "skipped: no OVMF here (package ovmf) for the pflash drives";
    EXPECT_NE(after(argv, "-drive", 3).find("if=pflash,format=raw,unit=0,readonly=on"), std::string::npos);
    EXPECT_EQ(after(argv, "-drive", 4), "if=pflash,format=raw,unit=1,file=/w/vars.fd");
}

// A provisioning boot gets a NIC that reaches nothing: QEMU's user network with restrict=on, no forwarding.
TEST(QemuCommand, IsolatedNicIsRestrictedUserNetworking) {
    auto machine = spec();
    machine.isolated_nic = true;
    auto argv = qemu_command(machine);
    EXPECT_EQ(after(argv, "-nic"), "user,restrict=on,model=virtio-net-pci");
    EXPECT_EQ(std::find(argv.begin(), argv.end(), "-netdev"), argv.end());
    for (const auto& word : argv) EXPECT_EQ(word.find("fwd"), std::string::npos) << word;
}

TEST(QemuCommand, KernelProbeHasNoDisks) {
    auto machine = spec();
    machine.kernel = "/w/vmlinuz";
    auto argv = qemu_command(machine);
    EXPECT_EQ(after(argv, "-kernel"), "/w/vmlinuz");
    EXPECT_TRUE(has(argv, "-no-reboot"));
    EXPECT_FALSE(has(argv, "-drive"));
}

} // namespace
} // namespace imgbuild::verify
