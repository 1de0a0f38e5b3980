// The image settings a commit records: made from a recipe (the exact text the commit stores, which
// its checksum covers), read back to the same struct, their defaults, and the checks that refuse
// settings imgbuild cannot image.

#include "imgbuild/image/settings.hpp"

#include <gtest/gtest.h>

#include "imgbuild/commit/metadata.hpp"
#include "imgbuild/image/image.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::image {
namespace {

using json = nlohmann::json;

class SettingsTest : public test::TempDirTest {
protected:
    recipe::Recipe load(const std::string& text) {
        dir.write("apt/sources.list", "deb http://mirror.example/debian bookworm main\n");
        auto path = dir.write("r.yaml", "name: node\nformat: deb\npackages: [a]\n"
                                        "repos: [{name: r, type: deb, url: 'http://mirror.example/debian', "
                                        "suite: bookworm}]\n" +
                                            text);
        return recipe::load(path, recipe::LoadOptions{{}, dir.path() / "apt"});
    }
};

TEST_F(SettingsTest, ARecipeGivesTheTextCommitsStore) {
    dir.write("key.pub", "PUBKEY\n");
    auto recipe = load("image: {formats: [qcow2, raw], size: 8GiB, boot: [bios], compress: zstd, platform: [ecs]}\n"
                       "kernel: {package: linux-image-amd64, args: [quiet, console=tty0]}\n"
                       "sysctl: {net.core.somaxconn: 4096, net.ipv4.tcp_rmem: '4096 87380 6291456'}\n"
                       "modules-load: [br_netfilter]\n"
                       "units: {enable: [containerd.service], mask: [apt-daily.timer]}\n"
                       "ostree: {remote: {url: 'https://updates.example/repo', ed25519-public-key: key.pub}}\n");
    const std::string text =
        R"({"checks":{"modules-load":["br_netfilter"],"sysctl":{"net.core.somaxconn":4096,)"
        R"("net.ipv4.tcp_rmem":"4096 87380 6291456"},"units":{"enable":["containerd.service"],)"
        R"("mask":["apt-daily.timer"]}},"image":{"boot":["bios"],"compress":"zstd","formats":["qcow2","raw"],)"
        R"("platform":["ecs"],"size":"8GiB"},"kernel-args":["quiet","console=tty0"],"name":"node",)"
        R"("remote":{"ed25519-key":"PUBKEY","name":"origin","url":"https://updates.example/repo"}})";
    // The recipe's own key wins over the signing key's public half.
    auto settings = settings_of(recipe, "SIGNING");
    EXPECT_EQ(json(settings).dump(), text);

    auto read = json::parse(text).get<ImageSettings>();
    EXPECT_EQ(read, settings);
    EXPECT_EQ(json(read).dump(), text);
    EXPECT_EQ(read.formats_or_default(), (std::vector<std::string>{"qcow2", "raw"}));
    EXPECT_EQ(read.boot_or_default(), (std::vector<std::string>{"bios"}));
    EXPECT_EQ(read.platforms_or_default(), (std::vector<std::string>{"ecs"}));
    EXPECT_EQ(read.size_or_default(), 8ull << 30);
    EXPECT_EQ(read.compress_or_default(), "zstd");
}

// containerd (or Docker's containerd.io) in packages: the boot checks prove it; written only when true.
TEST_F(SettingsTest, ContainerdInThePackagesIsChecked) {
    dir.write("apt/sources.list", "deb http://mirror.example/debian bookworm main\n");
    auto path = dir.write("c.yaml", "name: node\nformat: deb\npackages: [runc, containerd >= 1.6]\n"
                                    "repos: [{name: r, type: deb, url: 'http://mirror.example/debian', "
                                    "suite: bookworm}]\n");
    auto settings = settings_of(recipe::load(path, recipe::LoadOptions{{}, dir.path() / "apt"}), std::nullopt);
    ASSERT_TRUE(settings.checks);
    EXPECT_TRUE(settings.checks->containerd);
    auto text = json(settings).dump();
    EXPECT_NE(text.find(R"("containerd":true)"), std::string::npos) << text;
    EXPECT_EQ(json::parse(text).get<ImageSettings>(), settings);
    EXPECT_FALSE(settings_of(load(""), std::nullopt).checks->containerd);
    EXPECT_EQ(json(settings_of(load(""), std::nullopt)).dump().find("containerd"), std::string::npos);
}

TEST_F(SettingsTest, AbsentKeysStayAbsentAndHaveTheirDefaults) {
    auto settings = settings_of(load(""), std::nullopt);
    const std::string text =
        R"({"checks":{"modules-load":[],"sysctl":{},"units":{"enable":[],"mask":[]}},"image":{},"name":"node"})";
    EXPECT_EQ(json(settings).dump(), text);
    auto read = json::parse(text).get<ImageSettings>();
    EXPECT_EQ(read, settings);
    EXPECT_EQ(read.formats_or_default(), (std::vector<std::string>{"qcow2"}));
    EXPECT_EQ(read.boot_or_default(), (std::vector<std::string>{"bios", "uefi"}));
    EXPECT_EQ(read.platforms_or_default(), (std::vector<std::string>{"qemu"}));
    EXPECT_EQ(read.size_or_default(), 4ull << 30);
    EXPECT_EQ(read.compress_or_default(), "none");
    EXPECT_EQ(read.root_fs_or_default(), "ext4");
    EXPECT_FALSE(read.kernel_args);
    EXPECT_FALSE(read.remote);
}

TEST_F(SettingsTest, TheSigningKeyVerifiesWhenTheRemoteNamesNone) {
    auto settings = settings_of(load("kernel: {package: linux-image-amd64}\n"
                                     "ostree: {remote: {name: updates, url: 'file:///srv/repo'}}\n"),
                                "SIGNING");
    ASSERT_TRUE(settings.remote);
    EXPECT_EQ(json(*settings.remote).dump(), R"({"ed25519-key":"SIGNING","name":"updates","url":"file:///srv/repo"})");
    EXPECT_EQ(settings.kernel_args, std::vector<std::string>{});
    EXPECT_EQ(json(settings).at("kernel-args"), json::array());
}

TEST(ImageSettings, ACommitsSettingsAreCheckedWhenRead) {
    EXPECT_THROW(json::parse(R"({"image":{"formats":["vmdk"]}})").get<ImageSettings>(), UsageError);
    EXPECT_THROW(json::parse(R"({"image":{"boot":["coreboot"]}})").get<ImageSettings>(), UsageError);
    EXPECT_THROW(json::parse(R"({"image":{"platform":["ecs","gce"]}})").get<ImageSettings>(), UsageError);
    EXPECT_NO_THROW(json::parse(R"({"image":{"platform":["ecs","cvm","qemu"]}})").get<ImageSettings>());
    EXPECT_THROW(json::parse(R"({"image":{"root-fs":"xfs"}})").get<ImageSettings>(), ImageError);
    // A size that does not parse is the default; a number is bytes.
    EXPECT_EQ(json::parse(R"({"image":{"size":"lots"}})").get<ImageSettings>().size_or_default(), 4ull << 30);
    EXPECT_EQ(json::parse(R"({"image":{"size":1048576}})").get<ImageSettings>().size_or_default(), 1048576u);
}

TEST(ImageSettings, ACommitWithoutSettingsHasEmptyOnes) {
    commit::CommitInfo info;
    const std::string key(commit::key::image);
    EXPECT_EQ(settings_of(info), ImageSettings{});
    info.metadata[key] = "not json";
    EXPECT_EQ(settings_of(info), ImageSettings{});
    info.metadata[key] = R"({"name":"node","image":{"compress":"zlib"}})";
    EXPECT_EQ(settings_of(info).name, "node");
    EXPECT_EQ(settings_of(info).compress_or_default(), "zlib");
}

} // namespace
} // namespace imgbuild::image
