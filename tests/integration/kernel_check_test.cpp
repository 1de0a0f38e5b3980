// imgbuild kernel-check: a kernel config against fragments, and a recipe's kernel (read from its locked
// packages, nothing installed) against the recipe's modules and sysctl keys.

#include <gtest/gtest.h>

#include "support/fixture_recipe.hpp"
#include "support/imgbuild_test.hpp"

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;

const fs::path source_dir = IMGBUILD_SOURCE_DIR;

class KernelCheckTest : public ImgbuildTest {
protected:
    fs::path recipe(const std::string& tuning) {
        return dir.write("fx.yaml", FixtureRecipe{.name = "fx",
                                                  .packages = "linux-image-fixture",
                                                  .rest = "kernel: {package: linux-image-fixture}\n" + tuning}
                                        .text());
    }
};

TEST_F(KernelCheckTest, ConfigAgainstFragmentsListsWhatIsMissing) {
    dir.write("config-5.10", "CONFIG_IP_VS=m\nCONFIG_OVERLAY_FS=m\n# CONFIG_BRIDGE is not set\nCONFIG_CGROUPS=y\n");
    dir.write("need.config",
              "# container host\nCONFIG_IP_VS=m\nCONFIG_OVERLAY_FS=y\nCONFIG_BRIDGE=m\nCONFIG_CGROUPS=y\n");
    auto result = imgbuild({"kernel-check", "config-5.10", "--fragment", "need.config"});
    EXPECT_EQ(result.exit_code, 1) << result.err;
    EXPECT_NE(result.out.find("need.config: 2 of 4 options missing"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("CONFIG_OVERLAY_FS=y is a module, not built in (need.config:3:1)"), std::string::npos)
        << result.out;
    EXPECT_NE(result.out.find("CONFIG_BRIDGE=m is not set (need.config:4:1)"), std::string::npos) << result.out;

    dir.write("ok.config", "CONFIG_IP_VS=m\nCONFIG_CGROUPS=y\n");
    auto ok = imgbuild({"kernel-check", "config-5.10", "--fragment", "ok.config"});
    EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
    EXPECT_NE(ok.out.find("ok.config: all 2 options present"), std::string::npos) << ok.out;
}

TEST_F(KernelCheckTest, DefaultFragmentsAreTheProjectsKernelConfigDirectory) {
    dir.write("config", "CONFIG_CGROUPS=y\n");
    auto result = run_imgbuild({"kernel-check", (dir.path() / "config").string()}, source_dir);
    EXPECT_EQ(result.exit_code, 1) << result.err;
    EXPECT_NE(result.out.find("kernel-config/container-host.config: "), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("CONFIG_IP_VS=m is not set"), std::string::npos) << result.out;
}

TEST_F(KernelCheckTest, BadInputIsExitCodeTwo) {
    dir.write("config", "CONFIG_CGROUPS=y\n");
    dir.write("bad.config", "CONFIG_CGROUPS=y\nCGROUPS yes please\n");
    auto bad = imgbuild({"kernel-check", "config", "--fragment", "bad.config"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("bad.config:2:1: 'CGROUPS yes please' is not CONFIG_NAME=y or CONFIG_NAME=m"),
              std::string::npos)
        << bad.err;
    dir.write("notes.txt", "hello\n");
    auto not_config = imgbuild({"kernel-check", "notes.txt", "--fragment", "bad.config"});
    EXPECT_EQ(not_config.exit_code, 2);
    EXPECT_NE(not_config.err.find("'notes.txt' is not a kernel config"), std::string::npos) << not_config.err;
}

TEST_F(KernelCheckTest, RecipeKernelIsReadFromItsPackages) {
    recipe("modules-load: [br_netfilter, ip_vs]\nsysctl:\n  net.ipv4.vs.conntrack: 1\n  net.core.default_qdisc: fq\n"
           "initramfs: {enabled: false, drivers: [ext4, virtio_blk]}\n");
    auto result = imgbuild({"kernel-check", "fx.yaml"});
    EXPECT_EQ(result.exit_code, 1) << result.err;
    EXPECT_NE(result.out.find("kernel 5.10.0-fixture-amd64 (linux-image-fixture 1.0)"), std::string::npos)
        << result.out;
    EXPECT_NE(result.out.find("fx.yaml:7:30: kernel 5.10.0-fixture-amd64 has no module 'ip_vs'"), std::string::npos)
        << result.out;
    EXPECT_NE(result.out.find("sysctl 'net.ipv4.vs.conntrack' needs CONFIG_IP_VS"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("has no module 'virtio_blk'"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("needs the module sch_fq (CONFIG_NET_SCH_FQ=m), which is not in modules-load"),
              std::string::npos)
        << result.out;
    EXPECT_EQ(result.out.find("'ext4'"), std::string::npos) << "ext4 is built in: " << result.out;

    recipe("modules-load: [br_netfilter, sch_fq]\nsysctl:\n  net.core.default_qdisc: fq\n  kernel.panic: 10\n");
    auto ok = imgbuild({"kernel-check", "fx.yaml"});
    EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
    EXPECT_NE(ok.out.find("are all met"), std::string::npos) << ok.out;
}

} // namespace
} // namespace imgbuild::test
