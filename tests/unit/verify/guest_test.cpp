// The boot test's guest side: the check program (its shell syntax, what it asks the guest), the
// kernel arguments that start it, and the host's judgement of what a guest reported.

#include "verify/guest.hpp"

#include <algorithm>

#include <gtest/gtest.h>

#include <fmt/format.h>

#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/process.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::verify {
namespace {

using nlohmann::json;

const std::string booted = std::string(64, 'a');
const std::string next = std::string(64, 'b');

Expectations node() {
    json manifest = {{"commit", booted},
                     {"kernel", "5.10.0-46-amd64"},
                     {"name", "node"},
                     {"ref", "imgbuild/node"},
                     {"remote", {{"name", "origin"}, {"url", "file:///var/lib/imgbuild/updates/repo"}}},
                     {"checks",
                      {{"sysctl", {{"net.core.somaxconn", 4096}, {"net.ipv4.tcp_rmem", "4096 87380 16777216"}}},
                       {"modules-load", {"ip_vs", "br_netfilter"}},
                       {"units", {{"enable", {"containerd.service"}}, {"mask", {"apt-daily.timer"}}}}}}};
    return expectations_from_manifest(manifest);
}

// What a healthy node reports (the lines the program writes, in its order).
std::string healthy_report(const std::string& phase = "boot") {
    return "begin " + phase +
           "\r\n"
           "state running\n"
           "analyze Startup finished in 3.339s (kernel) + 7.554s (initrd) + 2min 1.089s (userspace) = 2min 11.982s \n"
           "kernel 5.10.0-46-amd64\n"
           "status * node " +
           booted +
           ".0\n"
           "status     Version: 11.1\n"
           "writable /usr no\nwritable /etc yes\nwritable /var yes\n"
           "sysctl net.core.somaxconn 4096\n"
           "sysctl net.ipv4.tcp_rmem 4096\t87380\t16777216\n"
           "module ip_vs loaded\nmodule br_netfilter builtin\n"
           "unit containerd.service active\n"
           "masked apt-daily.timer masked\n"
           "cloud-init-status disabled\n"
           "marker \n"
           "end " +
           phase + "\n";
}

const Check* find(const std::vector<Check>& checks, const std::string& name) {
    auto it = std::find_if(checks.begin(), checks.end(), [&](const Check& c) { return c.name == name; });
    return it == checks.end() ? nullptr : &*it;
}

TEST(GuestProgram, IsValidShellAndAsksForEveryPromise) {
    auto expect = node();
    std::string program = guest_program(expect);
    test::TempDir dir;
    auto path = dir.write("checks.sh", program);
    auto syntax = run_process(ProcessOptions{{"sh", "-n", path.string()}});
    EXPECT_TRUE(syntax.ok()) << syntax.output;
    EXPECT_NE(program.find("for key in 'net.core.somaxconn' 'net.ipv4.tcp_rmem'; do"), std::string::npos) << program;
    EXPECT_NE(program.find("for module in 'ip_vs' 'br_netfilter'; do"), std::string::npos);
    EXPECT_NE(program.find("for unit in 'containerd.service'; do"), std::string::npos);
    EXPECT_NE(program.find("remote_url='file:///var/lib/imgbuild/updates/repo'"), std::string::npos);
    EXPECT_NE(program.find("/dev/ttyS1"), std::string::npos) << "results go to the second serial port";
    EXPECT_TRUE(program.ends_with("exit 0\n")) << "the disk is zero-padded after the program";
}

TEST(GuestProgram, QuotesWhatItEmbeds) {
    auto expect = node();
    expect.enabled_units = {"it's.service"};
    std::string program = guest_program(expect);
    EXPECT_NE(program.find("'it'\\''s.service'"), std::string::npos);
}

TEST(KernelArguments, StartTheProgramWithoutReplacingTheDefaultTarget) {
    auto args = kernel_arguments(Phase::upgrade);
    EXPECT_NE(args.find("systemd.run=\"/bin/sh /dev/vdb upgrade\""), std::string::npos) << args;
    EXPECT_NE(args.find("systemd.unit=multi-user.target"), std::string::npos);
    EXPECT_NE(args.find("systemd.wants=kernel-command-line.service"), std::string::npos);
    EXPECT_NE(args.find("systemd.run_success_action=none"), std::string::npos);
    EXPECT_TRUE(args.starts_with(" ")) << "appended to the entry's linux line";
}

TEST(Timespan, ParsesSystemdSpans) {
    EXPECT_DOUBLE_EQ(*parse_timespan("3.339s"), 3.339);
    EXPECT_DOUBLE_EQ(*parse_timespan("850ms"), 0.85);
    EXPECT_DOUBLE_EQ(*parse_timespan("2min 4.392s"), 124.392);
    EXPECT_DOUBLE_EQ(*parse_timespan("1h 2min"), 3720);
    EXPECT_FALSE(parse_timespan("soon"));
}

TEST(Timespan, ParsesTheStartupLine) {
    auto times = parse_startup_line("Startup finished in 1.2s (firmware) + 3.339s (kernel) + 7.554s (initrd) + 2min "
                                    "1.089s (userspace) = 2min 13.182s");
    EXPECT_DOUBLE_EQ(*times.firmware, 1.2);
    EXPECT_DOUBLE_EQ(*times.kernel, 3.339);
    EXPECT_DOUBLE_EQ(*times.initrd, 7.554);
    EXPECT_DOUBLE_EQ(*times.userspace, 121.089);
    EXPECT_DOUBLE_EQ(*times.total, 133.182);
    EXPECT_FALSE(parse_startup_line("Bootup is not yet finished").total);
}

TEST(Status, ReadsDeployments) {
    auto deployments = parse_status({"  node " + next + ".0 (pending)", "    Version: 2", "* node " + booted + ".1",
                                     "    origin refspec: origin:imgbuild/node", "  node " + next + ".1 (rollback)"});
    ASSERT_EQ(deployments.size(), 3u);
    EXPECT_TRUE(deployments[0].pending);
    EXPECT_FALSE(deployments[0].booted);
    EXPECT_EQ(deployments[0].checksum, next);
    EXPECT_TRUE(deployments[1].booted);
    EXPECT_EQ(deployments[1].checksum, booted);
    EXPECT_EQ(deployments[1].osname, "node");
    EXPECT_TRUE(deployments[2].rollback);
}

TEST(Report, TakesOnlyItsPhase) {
    std::string channel = healthy_report("upgrade") + "begin upgraded\nstate starting\n";
    auto upgrade = parse_report(channel, Phase::upgrade);
    EXPECT_TRUE(upgrade.begun);
    EXPECT_TRUE(upgrade.ended);
    EXPECT_EQ(upgrade.first("state"), "running");
    auto upgraded = parse_report(channel, Phase::upgraded);
    EXPECT_TRUE(upgraded.begun);
    EXPECT_FALSE(upgraded.ended);
    EXPECT_EQ(upgraded.first("state"), "starting");
    EXPECT_FALSE(parse_report(channel, Phase::rollback).begun);
}

TEST(Evaluate, AHealthyNodePassesEverything) {
    auto checks = evaluate(parse_report(healthy_report(), Phase::boot), node(), Phase::boot);
    for (const auto& check : checks) EXPECT_TRUE(check.passed) << check.name << ": " << check.detail;
    for (const char* name :
         {"reached multi-user, no failed units", "booted the expected commit", "kernel 5.10.0-46-amd64",
          "/usr is read-only", "/etc is writable", "/var is writable", "sysctl net.core.somaxconn = 4096",
          "sysctl net.ipv4.tcp_rmem = 4096 87380 16777216", "module ip_vs", "module br_netfilter",
          "containerd.service is active", "apt-daily.timer is masked", "boot time reported (systemd-analyze)"})
        EXPECT_NE(find(checks, name), nullptr) << name;
}

TEST(Evaluate, NamesWhatFailed) {
    std::string text = healthy_report();
    auto replace = [&](const std::string& from, const std::string& to) {
        auto at = text.find(from);
        ASSERT_NE(at, std::string::npos) << from;
        text.replace(at, from.size(), to);
    };
    replace("state running\n", "state degraded\nfailed node-broken.service\n");
    replace("end boot\n",
            "journal node-broken.service node-broken.service: Main process exited, status=1/FAILURE\nend boot\n");
    replace("sysctl net.core.somaxconn 4096\n", "sysctl-missing net.core.somaxconn\n");
    replace("module ip_vs loaded", "module ip_vs missing");
    replace("unit containerd.service active", "unit containerd.service failed");
    replace("writable /usr no", "writable /usr yes");
    replace("status * node " + booted, "status * node " + next);
    auto checks = evaluate(parse_report(text, Phase::boot), node(), Phase::boot);

    auto running = find(checks, "reached multi-user, no failed units");
    ASSERT_NE(running, nullptr);
    EXPECT_FALSE(running->passed);
    EXPECT_NE(running->detail.find("node-broken.service"), std::string::npos) << running->detail;
    EXPECT_NE(running->detail.find("status=1/FAILURE"), std::string::npos) << "the unit's journal is quoted";
    auto sysctl = find(checks, "sysctl net.core.somaxconn = 4096");
    ASSERT_NE(sysctl, nullptr);
    EXPECT_FALSE(sysctl->passed);
    EXPECT_EQ(sysctl->detail, "the kernel has no such sysctl");
    EXPECT_FALSE(find(checks, "module ip_vs")->passed);
    EXPECT_FALSE(find(checks, "containerd.service is active")->passed);
    EXPECT_FALSE(find(checks, "/usr is read-only")->passed);
    auto commit = find(checks, "booted the expected commit");
    EXPECT_FALSE(commit->passed);
    EXPECT_NE(commit->detail.find(next), std::string::npos);
    EXPECT_TRUE(find(checks, "module br_netfilter")->passed) << "one failure does not fail the rest";
}

TEST(Evaluate, NoReportIsAFailure) {
    auto checks = evaluate(parse_report("garbage\n", Phase::boot), node(), Phase::boot);
    ASSERT_EQ(checks.size(), 1u);
    EXPECT_FALSE(checks[0].passed);
    auto unfinished = evaluate(parse_report("begin boot\nstate running\n", Phase::boot), node(), Phase::boot);
    auto finished = find(unfinished, "the check program finished");
    ASSERT_NE(finished, nullptr);
    EXPECT_FALSE(finished->passed);
}

TEST(Evaluate, UpgradeUpgradedRollback) {
    auto base = node();
    base.target_commit = next;
    base.marker = "token";
    std::string upgrade = healthy_report("upgrade");
    upgrade.insert(upgrade.find("end upgrade"),
                   "upgrade 0\nstatus-after   node " + next + ".0 (pending)\nstatus-after * node " + booted + ".0\n");
    auto checks = evaluate(parse_report(upgrade, Phase::upgrade), base, Phase::upgrade);
    EXPECT_TRUE(find(checks, "ostree upgrade")->passed);
    EXPECT_TRUE(find(checks, "the new commit is the next boot's default")->passed);

    std::string failed = healthy_report("upgrade");
    failed.insert(failed.find("end upgrade"), "upgrade-log error: No such remote\nupgrade 1\n");
    checks = evaluate(parse_report(failed, Phase::upgrade), base, Phase::upgrade);
    EXPECT_FALSE(find(checks, "ostree upgrade")->passed);
    EXPECT_NE(find(checks, "ostree upgrade")->detail.find("No such remote"), std::string::npos);

    auto after = node();
    after.commit = next;
    after.previous_commit = booted;
    after.marker = "token";
    std::string upgraded = "begin upgraded\nstate running\nstatus * node " + next + ".0\nstatus   node " + booted +
                           ".0 (rollback)\nmarker token\nend upgraded\n";
    checks = evaluate(parse_report(upgraded, Phase::upgraded), after, Phase::upgraded);
    EXPECT_TRUE(find(checks, "booted the expected commit")->passed);
    EXPECT_TRUE(find(checks, "/etc changes kept across the upgrade")->passed);
    EXPECT_TRUE(find(checks, "the previous deployment is kept for rollback")->passed);
    after.marker = "other";
    checks = evaluate(parse_report(upgraded, Phase::upgraded), after, Phase::upgraded);
    EXPECT_FALSE(find(checks, "/etc changes kept across the upgrade")->passed);

    std::string rollback = "begin rollback\nstate running\nstatus   node " + next + ".0\nstatus * node " + booted +
                           ".0\nrollback 0\nstatus-after * node " + booted + ".0\nend rollback\n";
    checks = evaluate(parse_report(rollback, Phase::rollback), node(), Phase::rollback);
    EXPECT_TRUE(find(checks, "booted the expected commit")->passed);
    EXPECT_TRUE(find(checks, "rollback made the old commit the default")->passed);
}

// A BIOS boot's console as the serial port captured it (colour codes, CR LF, kernel timestamps).
const std::string bios_console =
    "\x1b[2J\x1b[01;01H\x1b[=3hGNU GRUB  version 2.06\r\n"
    "[    0.000000] Linux version 6.1.0-57-amd64\r\n"
    "[    2.104512] systemd[1]: systemd 252.39-1~deb12u1 running in system mode\r\n"
    "[\x1b[0;32m  OK  \x1b[0m] Reached target \x1b[0;1;39mlocal-fs.target\x1b[0m - Local File Systems.\r\n"
    "[\x1b[0;1;31mFAILED\x1b[0m] Failed to set up automount \x1b[0;1;39mboot-efi.automount\x1b[0m - EFI System "
    "Partition Automount.\r\n"
    "See 'systemctl status boot-efi.automount' for details.\r\n"
    "[    3.220000] systemd-gpt-auto-generator[201]: Failed to dissect: Permission denied\r\n"
    "[    4.000000] ACPI: Failed to find something harmless\r\n"
    "         Starting \x1b[0;1;39msystemd-failed-units.service\x1b[0m - Report failed units...\r\n"
    "systemd.run_failure_action=none\r\n"
    "node-17 login: \r\n";

TEST(Console, FindsSystemdFailureLines) {
    auto lines = console_failures(bios_console);
    ASSERT_EQ(lines.size(), 2u) << ::testing::PrintToString(lines);
    EXPECT_EQ(lines[0], "[FAILED] Failed to set up automount boot-efi.automount - EFI System Partition Automount.");
    EXPECT_EQ(lines[1], "[    3.220000] systemd-gpt-auto-generator[201]: Failed to dissect: Permission denied");
    auto check = console_check(lines);
    EXPECT_FALSE(check.passed);
    EXPECT_NE(check.detail.find("2 failure lines"), std::string::npos) << check.detail;
    EXPECT_NE(check.detail.find("EFI System Partition Automount"), std::string::npos) << check.detail;
    // A status line systemd shortened through a colour code.
    EXPECT_EQ(
        console_failures("[\x1b[0;1;31mFAILED\x1b[0m] Failed to start \x1b[0;1;39msystemd-mo\xe2\x80\xa6service - "
                         "Load Kernel Modules.\r\n"),
        std::vector<std::string>{"[FAILED] Failed to start systemd-mo\xe2\x80\xa6service - Load Kernel Modules."});
    EXPECT_EQ(console_failures("automount \x1b[0;1;39\xe2\x80\xa6 - EFI\n[FAILED] x\n").back(), "[FAILED] x");
    // systemd's journal forwarded to the console, and a bare "Failed to" line.
    EXPECT_EQ(console_failures("systemd[1]: Failed to start foo.service\nFailed to mount /var\n").size(), 2u);
}

TEST(Console, ACleanBootPasses) {
    std::string clean = bios_console;
    clean.erase(clean.find("[\x1b[0;1;31mFAILED"), clean.find("[    4.0") - clean.find("[\x1b[0;1;31mFAILED"));
    EXPECT_TRUE(console_failures(clean).empty()) << ::testing::PrintToString(console_failures(clean));
    EXPECT_TRUE(console_check({}).passed);
}

UserData provisioning() {
    return parse_user_data("#cloud-config\nhostname: node-17\n"
                           "write_files:\n  - {path: /etc/node/role, content: worker, permissions: '0640'}\n"
                           "runcmd:\n  - echo joined-the-cluster\n",
                           "ud.yaml");
}

std::string provisioned_report(const UserData& data, const std::string& status = "done",
                               const std::string& errors = "[]") {
    std::string text = healthy_report();
    std::string lines = "hostname node-17\n"
                        "user-data " +
                        data.sha256 +
                        "\n"
                        "file 0 " +
                        sha256_hex("worker") + " " + sha256_hex("worker") +
                        " 640 root:root 6\n"
                        "file-head 0 worker\n"
                        "script runcmd\n"
                        "output-log Cloud-init v. 22.4 running 'modules:final' at Thu, 03 Dec 2026 18:00:00 +0000.\n"
                        "output-log joined-the-cluster\n"
                        "cloud-init-blame 2.1s cloud-init-local.service\n";
    text.replace(text.find("cloud-init-status disabled\n"), 27,
                 "cloud-init-status " + status +
                     "\ncloud-init-result {\"v1\": {\"datasource\": \"DataSourceNoCloud\", "
                     "\"errors\": " +
                     errors + "}}\n" + lines);
    return text;
}

TEST(Evaluate, UserDataApplied) {
    auto expect = node();
    expect.user_data = provisioning();
    auto checks = evaluate(parse_report(provisioned_report(*expect.user_data), Phase::boot), expect, Phase::boot);
    for (const auto& check : checks) EXPECT_TRUE(check.passed) << check.name << ": " << check.detail;
    for (const char* name :
         {"cloud-init finished the user data without errors", "cloud-init read the user data from the NoCloud seed",
          "hostname node-17", "user data wrote /etc/node/role", "user data runcmd ran"})
        ASSERT_NE(find(checks, name), nullptr) << name;
    EXPECT_NE(find(checks, "user data runcmd ran")->detail.find("joined-the-cluster"), std::string::npos);
    EXPECT_EQ(find(checks, "user data runcmd ran")->detail.find("Cloud-init v."), std::string::npos);
}

TEST(Evaluate, UserDataFailureNamesTheStep) {
    auto expect = node();
    expect.user_data = provisioning();
    auto text = provisioned_report(*expect.user_data, "error",
                                   "[\"('scripts_user', RuntimeError('Runparts: 1 failures (runcmd) in 1 attempted "
                                   "commands'))\"]");
    text.replace(text.find("hostname node-17"), 16, "hostname localhost");
    text.replace(text.find(" 640 root:root 6"), 16, " 644 root:root 6");
    text.replace(text.find("end boot"), 0,
                 "cloud-init-log 2026-12-03 18:00:01,000 - util.py[WARNING]: Failed running "
                 "/var/lib/cloud/instance/scripts/runcmd [1]\n");
    auto checks = evaluate(parse_report(text, Phase::boot), expect, Phase::boot);
    auto finished = find(checks, "cloud-init finished the user data without errors");
    ASSERT_NE(finished, nullptr);
    EXPECT_FALSE(finished->passed);
    EXPECT_NE(finished->detail.find("status 'error'"), std::string::npos) << finished->detail;
    EXPECT_NE(finished->detail.find("scripts_user"), std::string::npos) << finished->detail;
    EXPECT_NE(finished->detail.find("Failed running /var/lib/cloud/instance/scripts/runcmd"), std::string::npos);
    EXPECT_FALSE(find(checks, "hostname node-17")->passed);
    EXPECT_EQ(find(checks, "hostname node-17")->detail, "the hostname is 'localhost'");
    EXPECT_FALSE(find(checks, "user data wrote /etc/node/role")->passed);
    EXPECT_NE(find(checks, "user data wrote /etc/node/role")->detail.find("mode 644 (written: 640)"),
              std::string::npos);
    EXPECT_FALSE(find(checks, "user data runcmd ran")->passed);
    EXPECT_NE(find(checks, "user data runcmd ran")->detail.find("scripts-user module failed"), std::string::npos);
}

// Another module failed (the image has no en_US.UTF-8): the commands still ran, and say so.
TEST(Evaluate, AnotherModulesErrorIsNotTheCommands) {
    auto expect = node();
    expect.user_data = provisioning();
    auto text = provisioned_report(*expect.user_data, "error",
                                   "[\"('locale', ProcessExecutionError('update-locale failed'))\"]");
    auto checks = evaluate(parse_report(text, Phase::boot), expect, Phase::boot);
    EXPECT_FALSE(find(checks, "cloud-init finished the user data without errors")->passed);
    EXPECT_NE(find(checks, "cloud-init finished the user data without errors")->detail.find("'locale'"),
              std::string::npos);
    EXPECT_TRUE(find(checks, "user data runcmd ran")->passed) << find(checks, "user data runcmd ran")->detail;
}

TEST(Evaluate, NoSeedCloudInitMustNotRunOrFail) {
    auto text = healthy_report();
    text.replace(text.find("cloud-init-status disabled"), 26, "cloud-init-status running");
    auto checks = evaluate(parse_report(text, Phase::boot), node(), Phase::boot);
    auto check = find(checks, "cloud-init without a seed: not running, not failed");
    ASSERT_NE(check, nullptr);
    EXPECT_FALSE(check->passed);
    text.replace(text.find("cloud-init-status running"), 25, "cloud-init-status absent");
    checks = evaluate(parse_report(text, Phase::boot), node(), Phase::boot);
    EXPECT_EQ(find(checks, "cloud-init without a seed: not running, not failed"), nullptr)
        << "no cloud-init in the image: nothing to check";
}

const std::string containerd_lines =
    "containerd-version containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n"
    "ctr-plugin io.containerd.grpc.v1 cri linux/amd64 ok\n"
    "containerd-config default_runtime_name = \"runc\"\n"
    "containerd-config sandbox_image = \"registry.k8s.io/pause:3.6\"\n"
    "containerd-config snapshotter = \"overlayfs\"\n"
    "containerd-config SystemdCgroup = true\n"
    "ctr-run 0\n"
    "ctr-output 0::/system.slice/imgbuild-imgbuild-test-812.scope\n";

TEST(Evaluate, ContainerdReadyForKubelet) {
    auto expect = node();
    expect.containerd = true;
    auto text = healthy_report();
    text.replace(text.find("end boot"), 0, containerd_lines);
    auto checks = evaluate(parse_report(text, Phase::boot), expect, Phase::boot);
    for (const auto& check : checks) EXPECT_TRUE(check.passed) << check.name << ": " << check.detail;
    for (const char* name :
         {"containerd's CRI plugin is loaded", "containerd runs runc with the systemd cgroup driver",
          "containerd's snapshotter is overlayfs", "containerd's sandbox image is set",
          "a container runs under containerd (ctr run)", "the container's cgroup is under a systemd slice"})
        ASSERT_NE(find(checks, name), nullptr) << name;
    EXPECT_EQ(find(checks, "containerd's sandbox image is set")->detail, "sandbox_image registry.k8s.io/pause:3.6");
}

TEST(Evaluate, ContainerdAsDebianShipsItFails) {
    auto expect = node();
    expect.containerd = true;
    auto text = healthy_report();
    // No config.toml: cgroupfs driver; the CRI plugin disabled; ctr could not start the container.
    text.replace(text.find("end boot"), 0,
                 "containerd-config default_runtime_name = \"runc\"\n"
                 "containerd-config snapshotter = \"overlayfs\"\n"
                 "containerd-config SystemdCgroup = false\n"
                 "ctr-run 1\n"
                 "ctr-output ctr: failed to create shim task: OCI runtime create failed\n");
    auto checks = evaluate(parse_report(text, Phase::boot), expect, Phase::boot);
    EXPECT_FALSE(find(checks, "containerd's CRI plugin is loaded")->passed);
    EXPECT_FALSE(find(checks, "containerd runs runc with the systemd cgroup driver")->passed);
    EXPECT_NE(find(checks, "containerd runs runc with the systemd cgroup driver")->detail.find("SystemdCgroup false"),
              std::string::npos);
    EXPECT_TRUE(find(checks, "containerd's snapshotter is overlayfs")->passed);
    EXPECT_FALSE(find(checks, "containerd's sandbox image is set")->passed);
    EXPECT_FALSE(find(checks, "a container runs under containerd (ctr run)")->passed);
    EXPECT_NE(find(checks, "a container runs under containerd (ctr run)")->detail.find("OCI runtime create failed"),
              std::string::npos);
    EXPECT_FALSE(find(checks, "the container's cgroup is under a systemd slice")->passed);
}

std::string grown_report(const std::string& phase, std::uint64_t part_sectors, std::uint64_t fs_bytes) {
    auto text = healthy_report(phase);
    text.replace(text.find("end " + phase), 0,
                 fmt::format("grow-disk vda 25165824\n"
                             "grow-partition vda3 135168 {}\n"
                             "grow-fs {}\n"
                             "grow-unit systemd-repart.service active success\n"
                             "grow-log systemd-repart.service Growing existing partition 2.\n",
                             part_sectors, fs_bytes));
    return text;
}

TEST(Evaluate, RootGrowth) {
    auto expect = node();
    expect.image_disk = 4ull << 30;
    expect.grown_disk = 12ull << 30;
    // Filled: 12 GiB less the partition's start and the GPT's backup; ext4 on all of it.
    std::uint64_t sectors = 25165824 - 135168 - 2048;
    auto checks = evaluate(parse_report(grown_report("first-boot", sectors, sectors * 512), Phase::first_boot), expect,
                           Phase::first_boot);
    for (const auto& check : checks) EXPECT_TRUE(check.passed) << check.name << ": " << check.detail;
    ASSERT_NE(find(checks, "the disk is 12288.0 MiB (3x the image's)"), nullptr);
    ASSERT_NE(find(checks, "the root partition fills the disk"), nullptr);
    ASSERT_NE(find(checks, "the root filesystem fills its partition"), nullptr);
    EXPECT_EQ(find(checks, "a second boot changes nothing more"), nullptr);
    auto report = parse_report(grown_report("first-boot", sectors, sectors * 512), Phase::first_boot);
    EXPECT_EQ(reported_partition_size(report), sectors * 512);
    EXPECT_EQ(reported_filesystem_size(report), sectors * 512);

    // Not grown: the image's partition (4 GiB) on the 12 GiB disk.
    checks = evaluate(parse_report(grown_report("first-boot", 8251392, 8251392ull * 512), Phase::first_boot), expect,
                      Phase::first_boot);
    auto partition = find(checks, "the root partition fills the disk");
    EXPECT_FALSE(partition->passed);
    EXPECT_NE(partition->detail.find("vda3 ends at 4095.0 MiB of 12288.0 MiB"), std::string::npos) << partition->detail;
    EXPECT_NE(partition->detail.find("Growing existing partition 2."), std::string::npos) << partition->detail;
    // The partition grew, its ext4 did not.
    checks = evaluate(parse_report(grown_report("first-boot", sectors, 8251392ull * 512), Phase::first_boot), expect,
                      Phase::first_boot);
    EXPECT_TRUE(find(checks, "the root partition fills the disk")->passed);
    EXPECT_FALSE(find(checks, "the root filesystem fills its partition")->passed);

    // The second boot: equal sizes pass, any change fails.
    expect.previous_partition = sectors * 512;
    expect.previous_filesystem = sectors * 512;
    checks = evaluate(parse_report(grown_report("second-boot", sectors, sectors * 512), Phase::second_boot), expect,
                      Phase::second_boot);
    ASSERT_NE(find(checks, "a second boot changes nothing more"), nullptr);
    EXPECT_TRUE(find(checks, "a second boot changes nothing more")->passed);
    expect.previous_filesystem = sectors * 512 - 4096;
    checks = evaluate(parse_report(grown_report("second-boot", sectors, sectors * 512), Phase::second_boot), expect,
                      Phase::second_boot);
    EXPECT_FALSE(find(checks, "a second boot changes nothing more")->passed);
    // Nothing reported: a failure, not a pass.
    checks = evaluate(parse_report(healthy_report("first-boot"), Phase::first_boot), expect, Phase::first_boot);
    EXPECT_FALSE(find(checks, "the root fills the grown disk")->passed);
}

TEST(GuestProgram, EverySectionIsValidShell) {
    auto expect = node();
    expect.containerd = true;
    expect.user_data = provisioning();
    expect.grown_disk = 12ull << 30;
    std::string program = guest_program(expect);
    test::TempDir dir;
    auto path = dir.write("checks.sh", program);
    auto syntax = run_process(ProcessOptions{{"sh", "-n", path.string()}});
    EXPECT_TRUE(syntax.ok()) << syntax.output;
    EXPECT_NE(program.find("check_file 0 '/etc/node/role' 6"), std::string::npos) << program;
    EXPECT_NE(program.find("ctr run --rm --rootfs --runc-systemd-cgroup --cgroup"), std::string::npos);
    EXPECT_NE(program.find("cloud-init status --wait"), std::string::npos);
    EXPECT_NE(program.find("grow-partition"), std::string::npos);
    EXPECT_NE(program.find("first-boot)"), std::string::npos) << "the first boot on a grown disk reboots";
    // Without those expectations the program asks nothing of them (but always of cloud-init).
    auto plain = guest_program(node());
    EXPECT_EQ(plain.find("ctr run"), std::string::npos);
    EXPECT_EQ(plain.find("check_file"), std::string::npos);
    EXPECT_EQ(plain.find("grow-partition"), std::string::npos);
    EXPECT_NE(plain.find("cloud-init status --wait"), std::string::npos);
}

} // namespace
} // namespace imgbuild::verify
