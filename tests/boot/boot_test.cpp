// boot: `imgbuild test` on the default recipe's image (the default_bundle fixture), under UEFI and BIOS
// (with containerd's checks and the console's failure scan); user data through a NoCloud seed on a copy
// of the disk grown to three times its size, booted twice; an upgrade from that build to a second one
// (one sysctl and one package changed) and the rollback; and a broken image that the harness must fail,
// naming the checks.

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "imgbuild/core/files.hpp"
#include "imgbuild/core/process.hpp"
#include "support/command.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path bundle = IMGBUILD_E2E_BUNDLE;
const fs::path source = IMGBUILD_SOURCE_DIR;

// Why this machine cannot boot-test, or empty.
std::string cannot_boot() {
    if (::geteuid() != 0) return "building and booting images needs root";
    if (find_program("qemu-system-x86_64").empty()) return "no qemu-system-x86_64 (package qemu-system-x86)";
    if (!fs::exists(bundle / "builds/latest/manifest.json"))
        return "the default_bundle fixture built nothing here (see its output)";
    return {};
}

const json* find_check(const json& boot, const std::string& name) {
    for (const auto& check : boot["checks"])
        if (check["name"] == name) return &check;
    return nullptr;
}

std::vector<std::string> failed_checks(const json& report) {
    std::vector<std::string> failed;
    for (const auto& boot : report["boots"])
        for (const auto& check : boot["checks"])
            if (!check["passed"].get<bool>()) failed.push_back(check["name"].get<std::string>());
    return failed;
}

// `imgbuild test TARGET ARGS --json`, its report parsed.
json boot_test(const fs::path& target, std::vector<std::string> args, const fs::path& logs, int expected_exit = 0) {
    std::vector<std::string> argv = {"--cache-dir", IMGBUILD_E2E_CACHE, "test",       target.string(),
                                     "--json",      "--log-dir",        logs.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto result = run_imgbuild(argv);
    EXPECT_EQ(result.exit_code, expected_exit) << result.out << result.err;
    auto report = json::parse(result.out, nullptr, false);
    EXPECT_TRUE(report.is_object()) << result.out << result.err;
    return report.is_object() ? report : json::object();
}

void expect_default_checks_passed(const json& report, const std::string& firmware) {
    ASSERT_EQ(report["boots"].size(), 1u) << report.dump(2);
    const json& boot = report["boots"][0];
    EXPECT_EQ(boot["firmware"], firmware);
    EXPECT_TRUE(boot["passed"].get<bool>()) << report.dump(2);
    // The recipe's checks were run, not only the generic ones.
    for (const char* name :
         {"reached multi-user, no failed units", "booted the expected commit", "/usr is read-only", "/etc is writable",
          "sysctl net.ipv4.tcp_congestion_control = bbr", "sysctl net.netfilter.nf_conntrack_udp_timeout_stream = 120",
          "module ip_vs", "module br_netfilter", "containerd.service is active", "apt-daily.timer is masked",
          "the console shows no failure", "cloud-init without a seed: not running, not failed",
          "containerd's CRI plugin is loaded", "containerd runs runc with the systemd cgroup driver",
          "containerd's snapshotter is overlayfs", "containerd's sandbox image is set",
          "a container runs under containerd (ctr run)", "the container's cgroup is under a systemd slice"}) {
        auto check = find_check(boot, name);
        ASSERT_NE(check, nullptr) << name << " missing from\n" << boot.dump(2);
        EXPECT_TRUE((*check)["passed"].get<bool>()) << (*check).dump();
    }
    EXPECT_GT(boot["systemd-analyze"]["total"].get<double>(), 0) << boot.dump(2);
}

TEST(Boot, DefaultImagePassesItsChecksUnderUefi) {
    IMGBUILD_SKIP_IF(cannot_boot());
    TempDir logs;
    auto report = boot_test(bundle, {"--boot", "uefi"}, logs.path());
    expect_default_checks_passed(report, "uefi");
    EXPECT_TRUE(fs::exists(logs.path() / "uefi-console.log"));
}

TEST(Boot, DefaultImagePassesItsChecksUnderBios) {
    IMGBUILD_SKIP_IF(cannot_boot());
    TempDir logs;
    auto report = boot_test(bundle, {"--boot", "bios"}, logs.path());
    expect_default_checks_passed(report, "bios");
    EXPECT_TRUE(fs::exists(logs.path() / "bios-console.log"));
}

// The node's first boot as a cloud gives it: user data on a NoCloud seed and a disk larger than the
// image. One QEMU process, two boots on the same grown copy: the first provisions and grows the root,
// the second must find everything as the first left it.
TEST(Boot, UserDataAndRootGrowthOnAGrownDisk) {
    IMGBUILD_SKIP_IF(cannot_boot());
    TempDir dir;
    auto user_data = dir.write("user-data", "#cloud-config\n"
                                            "hostname: imgbuild-node17\n"
                                            "write_files:\n"
                                            "  - path: /etc/imgbuild-node/role\n"
                                            "    content: |\n"
                                            "      worker pool-a\n"
                                            "    permissions: '0640'\n"
                                            "runcmd:\n"
                                            "  - echo joined-cluster-$(cat /etc/imgbuild-node/role | cut -d' ' -f2)\n");
    auto report =
        boot_test(bundle, {"--boot", "bios", "--user-data", user_data.string(), "--grow", "3"}, dir.path() / "logs");
    ASSERT_EQ(report["boots"].size(), 2u) << report.dump(2);
    EXPECT_TRUE(report["passed"].get<bool>()) << report.dump(2);
    const json& first = report["boots"][0];
    const json& second = report["boots"][1];
    EXPECT_EQ(first["phase"], "first-boot");
    EXPECT_EQ(second["phase"], "second-boot");
    for (const json* boot : {&first, &second})
        for (const char* name :
             {"cloud-init finished the user data without errors", "cloud-init read the user data from the NoCloud seed",
              "hostname imgbuild-node17", "user data wrote /etc/imgbuild-node/role", "user data runcmd ran",
              "the root partition fills the disk", "the root filesystem fills its partition",
              "the console shows no failure"}) {
            auto check = find_check(*boot, name);
            ASSERT_NE(check, nullptr) << name << " missing from\n" << boot->dump(2);
            EXPECT_TRUE((*check)["passed"].get<bool>()) << (*check).dump();
        }
    auto output = find_check(first, "user data runcmd ran");
    EXPECT_NE((*output)["detail"].get<std::string>().find("joined-cluster-pool-a"), std::string::npos)
        << (*output).dump();
    auto manifest = json::parse(read_file(bundle / "builds/latest/manifest.json"));
    auto size_mib = static_cast<double>(manifest["disk"]["size"].get<std::uint64_t>() * 3) / (1 << 20);
    EXPECT_NE(find_check(first, fmt::format("the disk is {:.1f} MiB (3x the image's)", size_mib)), nullptr)
        << first.dump(2);
    auto again = find_check(second, "a second boot changes nothing more");
    ASSERT_NE(again, nullptr) << second.dump(2);
    EXPECT_TRUE((*again)["passed"].get<bool>()) << (*again).dump();
}

// Bad user data stops before anything boots: exit 2 naming the file (and line:column in the YAML).
TEST(Boot, BadUserDataIsRefusedBeforeBooting) {
    IMGBUILD_SKIP_IF(cannot_boot());
    TempDir dir;
    auto missing = run_imgbuild(
        {"--cache-dir", IMGBUILD_E2E_CACHE, "test", bundle.string(), "--user-data", (dir.path() / "absent").string()});
    EXPECT_EQ(missing.exit_code, 2) << missing.err;
    EXPECT_NE(missing.err.find((dir.path() / "absent").string()), std::string::npos) << missing.err;
    auto broken = dir.write("broken.yaml", "#cloud-config\nwrite_files:\n  path: /x\n");
    auto refused =
        run_imgbuild({"--cache-dir", IMGBUILD_E2E_CACHE, "test", bundle.string(), "--user-data", broken.string()});
    EXPECT_EQ(refused.exit_code, 2) << refused.err;
    EXPECT_NE(refused.err.find(broken.string() + ":3:3: write_files must be a list"), std::string::npos) << refused.err;
    auto text = dir.write("notes.txt", "join the cluster please\n");
    auto neither =
        run_imgbuild({"--cache-dir", IMGBUILD_E2E_CACHE, "test", bundle.string(), "--user-data", text.string()});
    EXPECT_EQ(neither.exit_code, 2) << neither.err;
    EXPECT_NE(neither.err.find(text.string() + ": not user data"), std::string::npos) << neither.err;
}

// Build 1 is the fixture's; build 2 (one sysctl changed, one package added) goes into a copy of the
// bundle, as a CI pipeline's next build would. The node boots build 1, upgrades through the bundle's
// repository on an extra disk (ostree admin upgrade from its file:// remote), boots build 2 with /etc
// kept, then rolls back to build 1.
TEST(Boot, UpgradeToTheNextBuildAndRollBack) {
    IMGBUILD_SKIP_IF(cannot_boot());
    TempDir dir;
    fs::path out = dir.path() / "out";
    fs::path first = fs::canonical(bundle / "builds/latest");
    auto manifest1 = json::parse(read_file(first / "manifest.json"));
    fs::create_directories(out / "builds" / first.filename());
    auto copy = run_command({"cp", "-a", (bundle / "repo").string(), (out / "repo").string()});
    ASSERT_EQ(copy.exit_code, 0) << copy.err;
    for (const std::string& file :
         {std::string("manifest.json"), manifest1["artifacts"]["qcow2"]["file"].get<std::string>()})
        fs::copy_file(first / file, out / "builds" / first.filename() / file);

    fs::path recipe = dir.write("node-next.yaml", "name: debian12-node\n"
                                                  "include: [" +
                                                      (source / "recipes/debian12-node.yaml").string() +
                                                      "]\n"
                                                      "packages: [less]\n"
                                                      "sysctl:\n  net.core.somaxconn: 8192\n");
    auto build = run_imgbuild({"--cache-dir", IMGBUILD_E2E_CACHE, "build", recipe.string(), "-o", out.string()});
    ASSERT_EQ(build.exit_code, 0) << build.err;
    fs::path second = fs::canonical(out / "builds/latest");
    ASSERT_NE(second.filename(), first.filename());
    auto manifest2 = json::parse(read_file(second / "manifest.json"));
    EXPECT_NE(read_file(second / "lock.json").find("\"less\""), std::string::npos);

    auto report = boot_test(out / "builds" / first.filename(),
                            {"--boot", "bios", "--upgrade-to", second.filename().string()}, dir.path() / "logs");
    ASSERT_EQ(report["boots"].size(), 3u) << report.dump(2);
    EXPECT_TRUE(report["passed"].get<bool>()) << report.dump(2);
    const json& upgrade = report["boots"][0];
    const json& upgraded = report["boots"][1];
    const json& rollback = report["boots"][2];
    EXPECT_EQ(upgrade["phase"], "upgrade");
    EXPECT_EQ(upgrade["commit"], manifest1["commit"]);
    ASSERT_NE(find_check(upgrade, "ostree upgrade"), nullptr);
    EXPECT_EQ(upgraded["phase"], "upgraded");
    EXPECT_EQ(upgraded["commit"], manifest2["commit"]);
    for (const char* name : {"booted the expected commit", "sysctl net.core.somaxconn = 8192",
                             "/etc changes kept across the upgrade", "the previous deployment is kept for rollback"}) {
        auto check = find_check(upgraded, name);
        ASSERT_NE(check, nullptr) << name << "\n" << upgraded.dump(2);
        EXPECT_TRUE((*check)["passed"].get<bool>()) << (*check).dump();
    }
    EXPECT_EQ(rollback["phase"], "rollback");
    EXPECT_EQ(rollback["commit"], manifest1["commit"]);
    auto back = find_check(rollback, "sysctl net.core.somaxconn = 4096");
    ASSERT_NE(back, nullptr) << rollback.dump(2);
    EXPECT_TRUE((*back)["passed"].get<bool>());
    EXPECT_TRUE(find_check(rollback, "rollback made the old commit the default") != nullptr);
}

// A recipe whose unit fails and with a sysctl value the kernel refuses (vm.overcommit_memory is 0-2;
// a sysctl the kernel lacks is refused earlier, by the build): `imgbuild build --test` fails, names the
// checks, records the result, and leaves builds/latest alone.
TEST(Boot, BrokenImageFailsNamingItsChecks) {
    IMGBUILD_SKIP_IF(cannot_boot());
    TempDir dir;
    dir.write("node-broken.service", "[Unit]\nDescription=A unit that fails\n[Service]\nType=oneshot\n"
                                     "ExecStart=/bin/false\n[Install]\nWantedBy=multi-user.target\n");
    fs::path recipe = dir.write(
        "broken.yaml", "name: debian12-node\n"
                       "include: [" +
                           (source / "recipes/debian12-node.yaml").string() +
                           "]\n"
                           "sysctl:\n  vm.overcommit_memory: 5\n"
                           "files:\n  - {path: /etc/systemd/system/node-broken.service, source: node-broken.service}\n"
                           "units: {enable: [node-broken.service]}\n"
                           "image: {boot: [!remove uefi]}\n");
    fs::path out = dir.path() / "out";
    auto build =
        run_imgbuild({"--cache-dir", IMGBUILD_E2E_CACHE, "build", recipe.string(), "-o", out.string(), "--test"});
    EXPECT_EQ(build.exit_code, 1) << build.out << build.err;
    EXPECT_NE(build.err.find("FAIL reached multi-user, no failed units"), std::string::npos) << build.err;
    EXPECT_NE(build.err.find("node-broken.service"), std::string::npos) << build.err;
    EXPECT_NE(build.err.find("FAIL sysctl vm.overcommit_memory = 5: it is "), std::string::npos) << build.err;
    EXPECT_NE(build.err.find("FAIL node-broken.service is active"), std::string::npos) << build.err;
    EXPECT_FALSE(fs::exists(fs::symlink_status(out / "builds/latest"))) << "a failed build does not become latest";

    // The build stays, with its result and logs.
    std::vector<fs::path> builds;
    for (const auto& entry : fs::directory_iterator(out / "builds")) builds.push_back(entry.path());
    ASSERT_EQ(builds.size(), 1u);
    auto manifest = json::parse(read_file(builds[0] / "manifest.json"));
    EXPECT_FALSE(manifest["test"]["passed"].get<bool>()) << manifest["test"].dump(2);
    auto failed = failed_checks(manifest["test"]);
    EXPECT_NE(std::find(failed.begin(), failed.end(), "sysctl vm.overcommit_memory = 5"), failed.end());
    EXPECT_TRUE(fs::exists(builds[0] / "test/bios-console.log"));
    // The unit's failure is on the console too, quoted by the console's scan.
    EXPECT_NE(std::find(failed.begin(), failed.end(), "the console shows no failure"), failed.end());
    EXPECT_NE(build.err.find("Failed to start node-broken.service"), std::string::npos) << build.err;
    // Everything else the recipe asked for did hold.
    EXPECT_EQ(failed.size(), 4u) << manifest["test"].dump(2);
}

} // namespace
} // namespace imgbuild::test
