// `imgbuild build` of the default recipe: the whole output bundle (repo/, builds/<version>/ with raw
// and qcow2 disks, manifest.json, lock.json, sbom.spdx.json, SHA256SUMS, builds/latest), the disk
// checked from outside: partition table, root filesystem, the qcow2s each platform imports. The bundle
// is the default_bundle fixture's (tests/e2e/default-bundle.sh), which the boot tests share.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "imgbuild/core/files.hpp"
#include "support/command.hpp"

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

TEST(DebianBuild, DefaultRecipeBuildsTheWholeBundle) {
    fs::path bundle = IMGBUILD_E2E_BUNDLE;
    if (!fs::exists(bundle / "builds/latest/manifest.json"))
        GTEST_SKIP() << "skipped: the default_bundle fixture built nothing here (see its output)";
    fs::path build = fs::canonical(bundle / "builds/latest");
    EXPECT_TRUE(fs::exists(bundle / "repo/config"));

    // Built again from the same inputs, nothing is rebuilt: the same build directory comes back.
    fs::path recipe = fs::path(IMGBUILD_SOURCE_DIR) / "recipes/debian12-node.yaml";
    auto again = run_imgbuild({"--cache-dir", IMGBUILD_E2E_CACHE, "build", recipe.string(), "-o", bundle.string()});
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(fs::canonical(again.out.substr(0, again.out.find('\n'))), build);
    EXPECT_NE(again.err.find("unchanged"), std::string::npos) << again.err;

    auto manifest = json::parse(read_file(build / "manifest.json"));
    EXPECT_EQ(manifest["ref"], "imgbuild/debian12/x86_64/node");
    EXPECT_TRUE(manifest["kernel"].get<std::string>().starts_with("5.10.")) << manifest["kernel"];
    EXPECT_GT(manifest["packages"].get<int>(), 150);
    EXPECT_EQ(manifest["remote"]["name"], "origin");
    // What the boot test checks travels in the manifest: the profile's tuning and the recipe's units.
    EXPECT_EQ(manifest["checks"]["sysctl"]["net.ipv4.tcp_congestion_control"], "bbr") << manifest["checks"];
    EXPECT_NE(manifest["checks"]["modules-load"].dump().find("ip_vs"), std::string::npos);
    EXPECT_NE(manifest["checks"]["units"]["enable"].dump().find("containerd.service"), std::string::npos);
    for (const char* format : {"raw", "qcow2"}) ASSERT_TRUE(manifest["artifacts"].contains(format)) << manifest.dump(2);
    EXPECT_LT(manifest["artifacts"]["qcow2"]["size"].get<std::uint64_t>(), 400u << 20); // zstd
    auto sbom = json::parse(read_file(build / "sbom.spdx.json"));
    EXPECT_EQ(sbom["packages"].size(), manifest["packages"].get<std::size_t>() + 1);

    fs::path raw = build / manifest["artifacts"]["raw"]["file"].get<std::string>();
    fs::path qcow2 = build / manifest["artifacts"]["qcow2"]["file"].get<std::string>();
    auto verify = run_command({"sfdisk", "--verify", raw.string()});
    EXPECT_NE(verify.out.find("No errors detected"), std::string::npos) << verify.out << verify.err;
    auto check = run_command({"qemu-img", "check", qcow2.string()});
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
    std::uint64_t root_offset = manifest["disk"]["partitions"][2]["start"].get<std::uint64_t>() * 512;
    auto fsck = run_command({"e2fsck", "-fn", raw.string() + "?offset=" + std::to_string(root_offset)});
    EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;

    // The clouds' file: the recipe names ecs and cvm beside qemu and its qcow2 is zstd, so both import one
    // zlib qcow2 (docs/platforms.md); every file the build publishes is in SHA256SUMS.
    EXPECT_EQ(manifest["platforms"]["qemu"]["file"], manifest["artifacts"]["qcow2"]["file"]);
    for (const char* platform : {"ecs", "cvm"})
        EXPECT_EQ(manifest["platforms"][platform]["compression"], "zlib") << manifest["platforms"];
    fs::path zlib = build / manifest["platforms"]["ecs"]["file"].get<std::string>();
    auto zlib_check = run_command({"qemu-img", "check", zlib.string()});
    EXPECT_EQ(zlib_check.exit_code, 0) << zlib_check.out << zlib_check.err;
    auto zlib_info = json::parse(run_command({"qemu-img", "info", "--output=json", zlib.string()}).out);
    EXPECT_EQ(zlib_info["format-specific"]["data"]["compression-type"], "zlib") << zlib_info;
    auto sums = run_command({"sha256sum", "--strict", "-c", "SHA256SUMS"}, build);
    EXPECT_EQ(sums.exit_code, 0) << sums.out << sums.err;
    EXPECT_NE(sums.out.find(zlib.filename().string() + ": OK"), std::string::npos) << sums.out;
}

} // namespace
} // namespace imgbuild::test
