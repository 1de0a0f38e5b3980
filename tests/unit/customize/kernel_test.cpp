// Kernel facts: config files and fragments, what a config lacks, the options behind sysctl keys,
// version comparison, and finding the one kernel of a root.

#include "imgbuild/customize/kernel.hpp"

#include <sstream>

#include <gtest/gtest.h>

#include "imgbuild/core/error.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::customize {
namespace {

namespace fs = std::filesystem;

using test::TempDir;
using test::TempDirTest;

// A kernel config: =y and =m kept, "is not set" is 'n', any other value (strings, numbers) counts as set.
TEST(KernelConfig, ParsesValuesAndUnsetOptions) {
    std::istringstream text("#\n"
                            "# Automatically generated file; DO NOT EDIT.\n"
                            "CONFIG_X=y\n"
                            "CONFIG_MOD=m\n"
                            "# CONFIG_Y is not set\n"
                            "CONFIG_NO=n\n"
                            "CONFIG_LOCALVERSION=\"-amd64\"\n"
                            "CONFIG_NR_CPUS=512\n"
                            "\n"
                            "# a comment that is no option\n");
    auto config = parse_kernel_config(text);
    EXPECT_EQ(config, (KernelConfig{{"CONFIG_X", 'y'},
                                    {"CONFIG_MOD", 'm'},
                                    {"CONFIG_Y", 'n'},
                                    {"CONFIG_NO", 'n'},
                                    {"CONFIG_LOCALVERSION", 'y'},
                                    {"CONFIG_NR_CPUS", 'y'}}));
}

TEST(KernelConfig, ReadsAFileAndFailsOnAMissingOne) {
    TempDir dir;
    auto path = dir.write("config-5.10.0-x", "CONFIG_IP_VS=m\n# CONFIG_BPF is not set\nCONFIG_HZ=250\n");
    EXPECT_EQ(read_kernel_config(path), (KernelConfig{{"CONFIG_IP_VS", 'm'}, {"CONFIG_BPF", 'n'}, {"CONFIG_HZ", 'y'}}));
    try {
        read_kernel_config(dir.path() / "missing");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
    }
}

// Fragments (kernel-config/*.config): requirements with their file and line; comments and blank lines
// skipped; every bad line reported with its place.
class ConfigFragment : public TempDirTest {};

TEST_F(ConfigFragment, ReadsRequirementsWithTheirLines) {
    auto path = dir.write("frag.config", "# what containers need\n"
                                         "\n"
                                         "CONFIG_NAMESPACES=y\n"
                                         "   # indented comment\n"
                                         "  CONFIG_IP_VS=m  \n"
                                         "\t\n"
                                         "CONFIG_OVERLAY_FS=y\n");
    auto requirements = read_config_fragment(path);
    ASSERT_EQ(requirements.size(), 3u);
    EXPECT_EQ(requirements[0].option, "CONFIG_NAMESPACES");
    EXPECT_EQ(requirements[0].wanted, 'y');
    EXPECT_EQ(requirements[0].where.line, 3);
    EXPECT_EQ(requirements[1].option, "CONFIG_IP_VS");
    EXPECT_EQ(requirements[1].wanted, 'm');
    EXPECT_EQ(requirements[1].where.line, 5);
    EXPECT_EQ(requirements[2].option, "CONFIG_OVERLAY_FS");
    EXPECT_EQ(requirements[2].where.line, 7);
    for (const auto& requirement : requirements) {
        EXPECT_EQ(fs::path(requirement.where.file).filename(), "frag.config");
        EXPECT_TRUE(fs::equivalent(fs::absolute(requirement.where.file), path)) << requirement.where.file;
    }
    EXPECT_TRUE(read_config_fragment(dir.write("empty.config", "# nothing\n\n")).empty());
}

TEST_F(ConfigFragment, BadLinesThrowWithFileAndLine) {
    auto path = dir.write("bad.config", "CONFIG_A=y\n"
                                        "CONFIG_B=n\n"
                                        "# fine\n"
                                        "IP_VS=y\n"
                                        "CONFIG_C=m\n");
    try {
        read_config_fragment(path);
        FAIL() << "expected a RecipeError";
    } catch (const RecipeError& e) {
        ASSERT_EQ(e.diagnostics().size(), 2u);
        const auto& first = e.diagnostics()[0];
        EXPECT_EQ(fs::path(first.where.file).filename(), "bad.config");
        EXPECT_EQ(first.where.line, 2);
        EXPECT_NE(first.message.find("CONFIG_B=n"), std::string::npos) << first.message;
        EXPECT_NE(first.str().find("bad.config:2"), std::string::npos) << first.str();
        EXPECT_EQ(e.diagnostics()[1].where.line, 4);
        EXPECT_NE(e.diagnostics()[1].message.find("IP_VS=y"), std::string::npos);
    }
    try {
        read_config_fragment(dir.path() / "none.config");
        FAIL() << "expected a RecipeError";
    } catch (const RecipeError& e) {
        ASSERT_EQ(e.diagnostics().size(), 1u);
        EXPECT_EQ(fs::path(e.diagnostics()[0].where.file).filename(), "none.config");
    }
}

// missing_options: =y needs built in; =m takes a module or built in; absent options are not set.
TEST(MissingOptions, ReportsWhatTheConfigLacks) {
    KernelConfig config{{"CONFIG_A", 'y'}, {"CONFIG_B", 'm'}, {"CONFIG_C", 'm'}, {"CONFIG_D", 'n'}};
    std::vector<ConfigRequirement> requirements{
        {"CONFIG_A", 'y', {"f.config", 1, 1}}, // built in: fine
        {"CONFIG_A", 'm', {"f.config", 2, 1}}, // built in satisfies =m
        {"CONFIG_B", 'y', {"f.config", 3, 1}}, // a module where built in is wanted
        {"CONFIG_C", 'm', {"f.config", 4, 1}}, // a module: fine
        {"CONFIG_D", 'm', {"f.config", 5, 1}}, // "is not set"
        {"CONFIG_E", 'y', {"f.config", 6, 1}}, // absent
    };
    auto missing = missing_options(config, requirements);
    ASSERT_EQ(missing.size(), 3u);
    EXPECT_EQ(missing[0], "CONFIG_B=y is a module, not built in (f.config:3:1)");
    EXPECT_EQ(missing[1], "CONFIG_D=m is not set (f.config:5:1)");
    EXPECT_EQ(missing[2], "CONFIG_E=y is not set (f.config:6:1)");
    EXPECT_TRUE(missing_options(config, {}).empty());
}

// sysctl_need: the option (and module) behind optional subsystems' keys, nullopt for core keys.
TEST(SysctlNeed, OptionsBehindKeys) {
    auto vs = sysctl_need("net.ipv4.vs.expire_nodest_conn", "1");
    ASSERT_TRUE(vs.has_value());
    EXPECT_EQ(vs->option, "CONFIG_IP_VS");
    EXPECT_EQ(vs->module, "ip_vs");
    EXPECT_EQ(vs->since_version, "");

    auto estimation = sysctl_need("net.ipv4.vs.run_estimation", "0");
    ASSERT_TRUE(estimation.has_value());
    EXPECT_EQ(estimation->option, "CONFIG_IP_VS");
    EXPECT_EQ(estimation->since_version, "5.18");

    auto bridge = sysctl_need("net.bridge.bridge-nf-call-iptables", "1");
    ASSERT_TRUE(bridge.has_value());
    EXPECT_EQ(bridge->option, "CONFIG_BRIDGE_NETFILTER");
    EXPECT_EQ(bridge->module, "br_netfilter");

    // sysctl.d spellings: slashes for dots, a leading '-' (ignore errors).
    auto slashed = sysctl_need("-net/bridge/bridge-nf-call-ip6tables", "1");
    ASSERT_TRUE(slashed.has_value());
    EXPECT_EQ(slashed->option, "CONFIG_BRIDGE_NETFILTER");

    EXPECT_FALSE(sysctl_need("kernel.panic", "10").has_value());
    EXPECT_FALSE(sysctl_need("vm.swappiness", "10").has_value());
    EXPECT_FALSE(sysctl_need("net.ipv4.ip_forward", "1").has_value());
}

TEST(SysctlNeed, AlgorithmsDependOnTheValue) {
    auto bbr = sysctl_need("net.ipv4.tcp_congestion_control", "bbr");
    ASSERT_TRUE(bbr.has_value());
    EXPECT_EQ(bbr->option, "CONFIG_TCP_CONG_BBR");
    EXPECT_EQ(bbr->module, "tcp_bbr");
    EXPECT_FALSE(sysctl_need("net.ipv4.tcp_congestion_control", "cubic").has_value()); // the default, built in

    auto fq = sysctl_need("net.core.default_qdisc", "fq");
    ASSERT_TRUE(fq.has_value());
    EXPECT_EQ(fq->option, "CONFIG_NET_SCH_FQ");
    EXPECT_EQ(fq->module, "sch_fq");
    EXPECT_FALSE(sysctl_need("net.core.default_qdisc", "pfifo_fast").has_value());
    EXPECT_FALSE(sysctl_need("net.core.somaxconn", "4096").has_value());
}

// version_at_least compares the numeric head of kernel versions, ignoring the ABI and flavour suffix.
TEST(KernelVersion, ComparesNumericParts) {
    EXPECT_FALSE(version_at_least("5.10.0-46-amd64", "5.18"));
    EXPECT_TRUE(version_at_least("5.18.0", "5.18"));
    EXPECT_TRUE(version_at_least("5.18", "5.18"));
    EXPECT_TRUE(version_at_least("6.1.0-13-amd64", "5.18"));
    EXPECT_TRUE(version_at_least("4.19.91-27.al7.x86_64", "4.19"));
    EXPECT_FALSE(version_at_least("4.19.91-27.al7.x86_64", "4.20"));
    EXPECT_TRUE(version_at_least("5.9.0", "5.4")) << "numbers compare as numbers, not strings";
    EXPECT_FALSE(version_at_least("5.4.0", "5.10"));
}

// find_kernel on a synthetic root: version, image, config, and module names from modules.dep and
// modules.builtin ('-' written as '_').
class FindKernel : public TempDirTest {
protected:
    fs::path root() const { return dir.path() / "root"; }

    void add_kernel(const std::string& version) const {
        dir.write("root/usr/lib/modules/" + version + "/modules.dep",
                  "kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko\n"
                  "kernel/net/bridge/bridge.ko:\n"
                  "kernel/drivers/net/virtio-net.ko.xz: kernel/drivers/net/net_failover.ko.xz\n");
        dir.write("root/usr/lib/modules/" + version + "/modules.builtin", "kernel/fs/ext4/ext4.ko\n\n");
        dir.write("root/boot/vmlinuz-" + version, "image");
        dir.write("root/boot/config-" + version, "CONFIG_EXT4_FS=y\nCONFIG_BRIDGE=m\n# CONFIG_IP_VS is not set\n");
    }
};

TEST_F(FindKernel, FindsTheOneKernel) {
    add_kernel("5.10.0-x");
    // A modules directory without modules.dep (left by a removed kernel) is not a kernel.
    dir.write("root/usr/lib/modules/5.9.0-old/updates/dkms/x.ko", "");
    auto kernel = find_kernel(root());
    EXPECT_EQ(kernel.version, "5.10.0-x");
    EXPECT_EQ(kernel.image, root() / "boot/vmlinuz-5.10.0-x");
    EXPECT_EQ(kernel.config, root() / "boot/config-5.10.0-x");
    EXPECT_EQ(kernel.modules, root() / "usr/lib/modules/5.10.0-x");
    EXPECT_TRUE(kernel.module_names.contains("br_netfilter"));
    EXPECT_TRUE(kernel.module_names.contains("bridge"));
    EXPECT_TRUE(kernel.module_names.contains("virtio_net"));
    EXPECT_TRUE(kernel.module_names.contains("ext4"));
    EXPECT_EQ(kernel.builtin, (std::set<std::string>{"ext4"}));

    auto facts = kernel_facts(kernel);
    EXPECT_EQ(facts.version, "5.10.0-x");
    ASSERT_TRUE(facts.config.has_value());
    EXPECT_EQ(facts.config->at("CONFIG_BRIDGE"), 'm');
    EXPECT_EQ(facts.config->at("CONFIG_IP_VS"), 'n');
    EXPECT_EQ(facts.modules, kernel.module_names);
}

TEST_F(FindKernel, ImageAndConfigUnderTheModulesDirectory) {
    dir.write("root/usr/lib/modules/6.1.0-y/modules.dep", "");
    dir.write("root/usr/lib/modules/6.1.0-y/vmlinuz", "image");
    auto kernel = find_kernel(root());
    EXPECT_EQ(kernel.image, root() / "usr/lib/modules/6.1.0-y/vmlinuz");
    EXPECT_TRUE(kernel.config.empty());
    EXPECT_FALSE(kernel_facts(kernel).config.has_value()) << "no config: nothing to check options against";
}

TEST_F(FindKernel, NoneOrSeveralThrow) {
    fs::create_directories(root());
    EXPECT_THROW(find_kernel(root()), Error);
    fs::create_directories(root() / "usr/lib/modules");
    EXPECT_THROW(find_kernel(root()), Error);

    add_kernel("5.10.0-x");
    add_kernel("5.10.0-z");
    try {
        find_kernel(root());
        FAIL() << "expected an error";
    } catch (const Error& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("several"), std::string::npos) << what;
        EXPECT_NE(what.find("5.10.0-x"), std::string::npos) << what;
        EXPECT_NE(what.find("5.10.0-z"), std::string::npos) << what;
    }
}

TEST_F(FindKernel, AKernelWithoutAnImageThrows) {
    dir.write("root/usr/lib/modules/5.10.0-x/modules.dep", "");
    EXPECT_THROW(find_kernel(root()), Error);
}

} // namespace
} // namespace imgbuild::customize
