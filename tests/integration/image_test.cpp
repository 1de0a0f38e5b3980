// imgbuild image and build against the fixture repositories: the disk's partition table, the root
// filesystem checked by e2fsck at its offset, GRUB on the ESP (mtools) and in the BIOS boot partition,
// the deployment's remote and kernel arguments, the qcow2s each platform imports (zstd for QEMU, zlib
// for ECS) as qemu-img reads them, manifest, SBOM and SHA256SUMS, and the same commit imaged twice
// giving the same bytes. Building needs root.

#include <unistd.h>

#include <fstream>
#include <regex>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/files.hpp"
#include "support/fixture_recipe.hpp"
#include "support/imgbuild_test.hpp"
#include "support/skip.hpp"

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class ImageTest : public ImgbuildTest {
protected:
    ImageTest() : ImgbuildTest(fixed_date) {}
    void SetUp() override { IMGBUILD_SKIP_IF(unless_root("building a root and deploying it need root")); }

    fs::path recipe(const std::string& extra = "") {
        return dir.write("fx.yaml",
                         FixtureRecipe{.name = "fixture-node",
                                       .version = "1.{date}.{n}",
                                       .packages = "base-files, app, linux-image-fixture",
                                       .rest = "kernel: {package: linux-image-fixture, args: [quiet]}\n"
                                               "initramfs: {enabled: false}\n"
                                               "sysctl: {net.ipv4.ip_forward: 1}\n"
                                               "ostree:\n"
                                               "  ref: fixture/x86_64/node\n"
                                               "  remote: {name: updates, url: 'http://127.0.0.1:8080/repo'}\n"
                                               "image: {formats: [raw, qcow2], size: 256MiB, platform: "
                                               "[ecs, qemu], compress: zstd}\n" +
                                               extra}
                             .text());
    }
    json manifest(const fs::path& build) { return json::parse(read_file(build / "manifest.json")); }
    std::string run_ok(const std::vector<std::string>& argv) {
        auto result = run_command(argv);
        EXPECT_EQ(result.exit_code, 0) << argv.front() << ": " << result.out << result.err;
        return result.out + result.err;
    }
};

TEST_F(ImageTest, BuildMakesABootableHybridDiskAndItsBundle) {
    recipe();
    auto result = imgbuild({"build", "fx.yaml", "-o", "out"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    fs::path latest = dir.path() / "out/builds/latest";
    ASSERT_TRUE(fs::is_symlink(latest));
    fs::path build = fs::canonical(latest);
    EXPECT_EQ(fs::canonical(dir.path() / result.out.substr(0, result.out.find('\n'))), build);
    auto info = manifest(build);
    EXPECT_EQ(info["ref"], "fixture/x86_64/node");
    auto lock = json::parse(read_file(build / "lock.json"));
    EXPECT_EQ(info["packages"], lock["packages"].size());
    EXPECT_TRUE(std::regex_match(info["commit"].get<std::string>(), std::regex("[0-9a-f]{64}")));
    fs::path raw = build / info["artifacts"]["raw"]["file"].get<std::string>();
    fs::path qcow2 = build / info["artifacts"]["qcow2"]["file"].get<std::string>();
    EXPECT_EQ(info["artifacts"]["raw"]["sha256"], checksum_file(raw, DigestType::sha256).hex);
    EXPECT_EQ(info["sbom"]["sha256"], sha256_hex(read_file(build / "sbom.spdx.json")));
    EXPECT_TRUE(fs::exists(build / "lock.json"));
    for (const auto& entry : fs::directory_iterator(build / ".."))
        EXPECT_FALSE(entry.path().filename().string().find(".partial") != std::string::npos) << entry.path();

    // The partition table.
    EXPECT_NE(run_ok({"sfdisk", "--verify", raw.string()}).find("No errors detected"), std::string::npos);
    auto table = json::parse(run_ok({"sfdisk", "--json", raw.string()}));
    const auto& parts = table["partitiontable"]["partitions"];
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(parts[0]["type"], "21686148-6449-6E6F-744E-656564454649"); // BIOS boot
    EXPECT_EQ(parts[1]["type"], "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"); // ESP
    EXPECT_EQ(parts[2]["type"], "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"); // root (x86-64)
    std::uint64_t esp = parts[1]["start"].get<std::uint64_t>() * 512;
    std::uint64_t root = parts[2]["start"].get<std::uint64_t>() * 512;

    // The root filesystem, checked where it lies in the disk.
    run_ok({"e2fsck", "-fn", raw.string() + "?offset=" + std::to_string(root)});
    std::string device = raw.string() + "?offset=" + std::to_string(root);
    std::string entries = run_ok({"debugfs", "-R", "ls -p /boot/loader/entries", device});
    EXPECT_NE(entries.find("ostree-"), std::string::npos) << entries;
    // debugfs follows no links: grub/grub.cfg → ../loader/grub.cfg, loader → loader.1.
    EXPECT_NE(
        run_ok({"debugfs", "-R", "stat /boot/grub/grub.cfg", device}).find("Fast link dest: \"../loader/grub.cfg\""),
        std::string::npos);
    std::string grub_cfg = run_ok({"debugfs", "-R", "cat /boot/loader.1/grub.cfg", device});
    EXPECT_NE(grub_cfg.find("search --no-floppy --fs-uuid --set=root " + info["disk"]["root-uuid"].get<std::string>()),
              std::string::npos)
        << grub_cfg;
    // Every word of the linux line single-quoted (GRUB's lexer must not read kernel arguments as syntax).
    EXPECT_NE(grub_cfg.find("linux '/boot/ostree/fixture-node-"), std::string::npos) << grub_cfg;
    EXPECT_NE(grub_cfg.find(" 'console=ttyS0,115200n8'"), std::string::npos) << grub_cfg; // ecs
    EXPECT_NE(grub_cfg.find(" 'quiet'"), std::string::npos) << grub_cfg;                  // the recipe's
    EXPECT_NE(grub_cfg.find(" 'ostree=/ostree/boot.1/fixture-node/"), std::string::npos) << grub_cfg;
    EXPECT_NE(run_ok({"debugfs", "-R", "ls -p /boot/grub/i386-pc", device}).find("normal.mod"), std::string::npos);
    std::string config = run_ok({"debugfs", "-R", "cat /ostree/repo/config", device});
    EXPECT_NE(config.find("[remote \"updates\"]"), std::string::npos) << config;
    EXPECT_NE(config.find("url=http://127.0.0.1:8080/repo"), std::string::npos) << config;
    std::string origin =
        run_ok({"debugfs", "-R",
                "cat /ostree/deploy/fixture-node/deploy/" + info["commit"].get<std::string>() + ".0.origin", device});
    EXPECT_NE(origin.find("refspec=updates:fixture/x86_64/node"), std::string::npos) << origin;

    // GRUB for UEFI on the ESP, and for BIOS in the boot partition behind the MBR's code.
    std::string esp_image = raw.string() + "@@" + std::to_string(esp);
    EXPECT_NE(run_ok({"mdir", "-i", esp_image, "::EFI/BOOT"}).find("BOOTX64  EFI"), std::string::npos);
    std::ifstream disk(raw, std::ios::binary);
    std::string mbr(512, '\0');
    disk.read(mbr.data(), 512);
    EXPECT_EQ(mbr.substr(510), std::string("\x55\xaa", 2));
    std::uint64_t core_sector = 0;
    for (int i = 7; i >= 0; --i)
        core_sector = core_sector << 8 | static_cast<unsigned char>(mbr[static_cast<std::size_t>(0x5c + i)]);
    EXPECT_EQ(core_sector, parts[0]["start"].get<std::uint64_t>());
    std::string core(512, '\0');
    disk.seekg(static_cast<std::streamoff>(core_sector * 512));
    disk.read(core.data(), 512);
    std::string diskboot = read_file("/usr/lib/grub/i386-pc/diskboot.img");
    EXPECT_EQ(core.substr(0, 0x100), diskboot.substr(0, 0x100)); // the core image starts with diskboot

    // qcow2, compat 1.1, clean.
    // Each platform's qcow2: zstd (the recipe's) for QEMU, zlib for ECS, both compat 1.1, clean, and
    // the raw disk's bytes.
    EXPECT_EQ(info["platforms"]["qemu"]["file"], info["artifacts"]["qcow2"]["file"]);
    EXPECT_EQ(info["platforms"]["qemu"]["compression"], "zstd");
    EXPECT_EQ(info["platforms"]["ecs"]["artifact"], "qcow2-zlib");
    EXPECT_EQ(info["platforms"]["ecs"]["format"], "qcow2");
    EXPECT_EQ(info["platforms"]["ecs"]["compression"], "zlib");
    EXPECT_EQ(info["platforms"]["ecs"]["import-page"],
              "https://www.alibabacloud.com/help/en/ecs/user-guide/import-a-custom-image");
    fs::path zlib = build / info["platforms"]["ecs"]["file"].get<std::string>();
    EXPECT_EQ(zlib.filename(), "fixture-node-" + info["version"].get<std::string>() + ".zlib.qcow2");
    EXPECT_EQ(info["artifacts"]["qcow2-zlib"]["sha256"], checksum_file(zlib, DigestType::sha256).hex);
    for (const auto& [file, compression] : {std::pair{qcow2, "zstd"}, std::pair{zlib, "zlib"}}) {
        std::string check = run_ok({"qemu-img", "check", file.string()});
        EXPECT_NE(check.find("No errors were found"), std::string::npos) << file << check;
        auto qinfo = json::parse(run_ok({"qemu-img", "info", "--output=json", file.string()}));
        EXPECT_EQ(qinfo["format-specific"]["data"]["compat"], "1.1") << file;
        EXPECT_EQ(qinfo["format-specific"]["data"]["compression-type"], compression) << file;
        EXPECT_EQ(qinfo["cluster-size"], 1 << 20) << "compressed in 1 MiB clusters";
        EXPECT_NE(run_ok({"qemu-img", "compare", "-f", "raw", "-F", "qcow2", raw.string(), file.string()})
                      .find("Images are identical"),
                  std::string::npos)
            << file;
    }

    // SHA256SUMS: the disks, the SBOM and the lock, as sha256sum checks them.
    EXPECT_EQ(info["sha256sums"], "SHA256SUMS");
    auto sums = run_command({"sha256sum", "--strict", "-c", "SHA256SUMS"}, build);
    EXPECT_EQ(sums.exit_code, 0) << sums.out << sums.err;
    for (const auto& file : {raw.filename().string(), qcow2.filename().string(), zlib.filename().string(),
                             std::string("sbom.spdx.json"), std::string("lock.json")})
        EXPECT_NE(sums.out.find(file + ": OK\n"), std::string::npos) << file << "\n" << sums.out;
    EXPECT_EQ(sums.out.find("manifest.json"), std::string::npos) << sums.out;

    // The SBOM lists the lock.
    auto sbom = json::parse(read_file(build / "sbom.spdx.json"));
    EXPECT_EQ(sbom["spdxVersion"], "SPDX-2.3");
    EXPECT_EQ(sbom["packages"].size(), lock["packages"].size() + 1); // the image and its packages

    // The same inputs again: nothing is built; the build is reused.
    auto again = imgbuild({"build", "fx.yaml", "-o", "out"});
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(again.out, result.out);
    EXPECT_NE(again.err.find("unchanged"), std::string::npos) << again.err;
}

TEST_F(ImageTest, TheSameCommitGivesTheSameRawImage) {
    recipe();
    auto commit = imgbuild({"commit", "fx.yaml", "--repo", "repo"});
    ASSERT_EQ(commit.exit_code, 0) << commit.err;
    auto first = imgbuild({"image", "--repo", "repo", "--ref", "fixture/x86_64/node", "-o", "a", "--format", "raw"});
    ASSERT_EQ(first.exit_code, 0) << first.err;
    // A second image in a new cache: nothing shared but the repository.
    auto second = run_imgbuild({"--cache-dir", (dir.path() / "cache2").string(), "image", "--repo", "repo", "--ref",
                                "fixture/x86_64/node", "-o", "b", "--format", "raw"},
                               dir.path());
    ASSERT_EQ(second.exit_code, 0) << second.err;
    auto a = manifest(dir.path() / "a"), b = manifest(dir.path() / "b");
    EXPECT_EQ(a["artifacts"]["raw"]["sha256"], b["artifacts"]["raw"]["sha256"]);
    EXPECT_FALSE(a["artifacts"].contains("qcow2"));
}

TEST_F(ImageTest, ExplainSaysPerStageWhatWasReusedAndWhatChanged) {
    recipe();
    auto first = imgbuild({"build", "--explain", "fx.yaml", "-o", "out"});
    ASSERT_EQ(first.exit_code, 0) << first.err;
    EXPECT_TRUE(std::regex_search(first.err, std::regex("\ninstall +built +the set is not in the cache\n")))
        << first.err;
    EXPECT_TRUE(std::regex_search(first.err, std::regex("\ncommit +built +[0-9a-f]{12} \\([0-9]+ new objects\\): the "
                                                        "first build on fixture/x86_64/node\n")))
        << first.err;

    // Nothing changed: the commit and its images are reused, nothing else runs.
    auto noop = imgbuild({"build", "--explain", "fx.yaml", "-o", "out"});
    ASSERT_EQ(noop.exit_code, 0) << noop.err;
    EXPECT_TRUE(
        std::regex_search(noop.err, std::regex("\nresolve +ran +[0-9]+ packages, the same as the last build\n")))
        << noop.err;
    EXPECT_TRUE(std::regex_search(noop.err, std::regex("\ncommit +reused +[0-9a-f]{12} \\(version 1.20231114.0\\)")))
        << noop.err;
    EXPECT_TRUE(std::regex_search(noop.err, std::regex("\nimage +reused +")));
    EXPECT_EQ(noop.err.find("install "), std::string::npos) << noop.err;

    // One sysctl: the installed set is reused; the commit says why it was made.
    dir.write("fx.yaml",
              std::regex_replace(read_file(dir.path() / "fx.yaml"), std::regex("ip_forward: 1"), "ip_forward: 0"));
    auto sysctl = imgbuild({"build", "--explain", "fx.yaml", "-o", "out"});
    ASSERT_EQ(sysctl.exit_code, 0) << sysctl.err;
    EXPECT_TRUE(std::regex_search(sysctl.err, std::regex("\nfetch +skipped +the installed set is cached\n")))
        << sysctl.err;
    EXPECT_TRUE(
        std::regex_search(sysctl.err, std::regex("\ninstall +reused +the set [0-9a-f]{12} of [0-9]+ packages\n")))
        << sysctl.err;
    EXPECT_TRUE(std::regex_search(sysctl.err, std::regex("\ncommit +built +[0-9a-f]{12} \\([0-9]+ new objects\\): "
                                                         "changed: the recipe's sysctl\n")))
        << sysctl.err;
    // Its qcow2 takes most clusters from the last image (the filesystems differ where the trees do),
    // and is the same bytes as the commit imaged afresh in another cache.
    std::smatch clusters;
    ASSERT_TRUE(std::regex_search(
        sysctl.err, clusters,
        std::regex("\nimage +built +a new commit; the qcow2 took ([0-9]+) of its ([0-9]+) clusters from the last "
                   "image; the zlib qcow2 took ([0-9]+) of its ([0-9]+) clusters from the last image\n")))
        << sysctl.err;
    EXPECT_GT(std::stoi(clusters[1]), 0);
    EXPECT_LT(std::stoi(clusters[1]), std::stoi(clusters[2]));
    EXPECT_GT(std::stoi(clusters[3]), 0) << "the zlib qcow2 reuses its own last image's clusters";
    EXPECT_LT(std::stoi(clusters[3]), std::stoi(clusters[4]));
    auto built = manifest(dir.path() / "out/builds/latest");
    auto fresh = run_imgbuild({"--cache-dir", (dir.path() / "cache2").string(), "image", "--repo", "out/repo", "--ref",
                               built["commit"], "-o", "fresh", "--format", "qcow2"},
                              dir.path());
    ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
    for (const char* key : {"qcow2", "qcow2-zlib"})
        EXPECT_EQ(manifest(dir.path() / "fresh")["artifacts"][key]["sha256"], built["artifacts"][key]["sha256"]) << key;

    // Another package: the lock's change is named, and the cached set is upgraded with it.
    std::string text = read_file(dir.path() / "fx.yaml");
    dir.write("fx.yaml", std::regex_replace(text, std::regex("packages: \\[base-files, app,"),
                                            "packages: [base-files, app, scripted,"));
    auto package = imgbuild({"build", "--explain", "fx.yaml", "-o", "out"});
    ASSERT_EQ(package.exit_code, 0) << package.err;
    EXPECT_TRUE(
        std::regex_search(package.err, std::regex("\ninstall +upgraded +the cached set [0-9a-f]{12} by dpkg: 1 package "
                                                  "\\(\\+scripted [^)]+\\)\n")))
        << package.err;
    EXPECT_TRUE(std::regex_search(package.err, std::regex("\nfetch +ran +1 changed packages: "))) << package.err;
    EXPECT_TRUE(std::regex_search(
        package.err,
        std::regex("\nresolve +ran +[0-9]+ packages, changed since the last build: 1 package \\(\\+scripted")))
        << package.err;
}

TEST_F(ImageTest, BadRequestsAreUsageErrors) {
    recipe();
    ASSERT_EQ(imgbuild({"commit", "fx.yaml", "--repo", "repo"}).exit_code, 0);
    auto missing = imgbuild({"image", "--repo", "repo", "--ref", "no/such/ref", "-o", "x"});
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.err.find("no/such/ref"), std::string::npos) << missing.err;
    auto format = imgbuild({"image", "--repo", "repo", "--ref", "fixture/x86_64/node", "-o", "x", "--format", "vmdk"});
    EXPECT_EQ(format.exit_code, 2) << format.err;
    EXPECT_FALSE(fs::exists(dir.path() / "x/manifest.json"));
}

} // namespace
} // namespace imgbuild::test
