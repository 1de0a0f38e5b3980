// The boot test's guest side: the check program (its shell syntax, what it asks the guest), the
// kernel arguments that start it, and the host's judgement of what a guest reported.

#include "verify/guest.hpp"

#include <algorithm>

#include <gtest/gtest.h>

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

} // namespace
} // namespace imgbuild::verify
