// The seed systems' shipped recipes (Alibaba Cloud Linux 2 and 3, TencentOS Server 2.4) validated and
// locked against fixture repositories laid out like their vendors' (tests/fixtures/make-repos.sh, seed/),
// with only their mirror variables pointed there; and the install of an EL7 recipe refused for its rpm
// database format (docs/seed-systems.md).

#include <algorithm>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "imgbuild/core/files.hpp"
#include "support/imgbuild_test.hpp"
#include "support/skip.hpp"

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path seed = fs::path(IMGBUILD_FIXTURE_REPOS) / "seed";

std::string recipe_path(const std::string& name) { return std::string(IMGBUILD_SOURCE_DIR) + "/recipes/" + name; }

// Each recipe with every mirror variable pointed at the fixture tree.
struct Seed {
    std::string file;
    std::vector<std::string> set;
};
const std::map<std::string, Seed> seeds = {
    {"alinux2",
     {"alinux2-node.yaml",
      {"alinux_mirror=file://" + (seed / "alinux").string(), "docker_mirror=file://" + (seed / "docker").string()}}},
    {"alinux3",
     {"alinux3-node.yaml",
      {"alinux_mirror=file://" + (seed / "alinux").string(), "docker_mirror=file://" + (seed / "docker").string()}}},
    {"tencentos",
     {"tencentos-node.yaml",
      {"tencentos_mirror=file://" + (seed / "tlinux").string(), "docker_mirror=file://" + (seed / "docker").string()}}},
};

class SeedRecipes : public ImgbuildTest {
protected:
    // imgbuild COMMAND RECIPE ARGS... with the seed's --set options.
    CommandResult run(const std::string& command, const std::string& which, std::vector<std::string> args = {}) {
        const Seed& s = seeds.at(which);
        std::vector<std::string> argv{command, recipe_path(s.file)};
        argv.insert(argv.end(), args.begin(), args.end());
        for (const auto& set : s.set) argv.insert(argv.end(), {"--set", set});
        return imgbuild(argv);
    }
    json show(const std::string& which) {
        auto result = run("show", which);
        EXPECT_EQ(result.exit_code, 0) << result.err;
        return json::parse(result.out);
    }
    // The package name → version map of a fresh lock of the recipe.
    std::map<std::string, std::string> lock(const std::string& which) {
        fs::path out = dir.path() / (which + ".lock.json");
        auto result = run("lock", which, {"-o", out.string()});
        EXPECT_EQ(result.exit_code, 0) << result.err;
        std::map<std::string, std::string> packages;
        if (result.exit_code != 0) return packages;
        json document = json::parse(read_file(out)); // named: a range over a temporary's member dangles
        for (const auto& package : document.at("packages"))
            packages[package.at("name").get<std::string>()] = package.at("version").get<std::string>();
        return packages;
    }
    static bool has_arg(const json& recipe, const std::string& arg) {
        const auto& args = recipe.at("kernel").at("args");
        return std::find(args.begin(), args.end(), arg) != args.end();
    }
};

TEST_F(SeedRecipes, ValidateWithTheirMirrorsOnFixtures) {
    for (const auto& [which, s] : seeds) {
        auto result = run("validate", which);
        EXPECT_EQ(result.exit_code, 0) << which << ": " << result.err;
    }
}

TEST_F(SeedRecipes, ReposFollowTheMirrorVariables) {
    for (const auto& [which, s] : seeds) {
        auto recipe = show(which);
        for (const auto& repo : recipe.at("repos")) {
            std::string url = repo.at("url");
            EXPECT_TRUE(url.starts_with("file://" + seed.string() + "/")) << which << ": " << url;
            EXPECT_TRUE(fs::is_regular_file(url.substr(7) + "/repodata/repomd.xml")) << which << ": " << url;
        }
    }
}

TEST_F(SeedRecipes, Alinux2LocksItsKernelAndDockersContainerd) {
    auto packages = lock("alinux2");
    EXPECT_EQ(packages["kernel"], "4.19.91-27.al7"); // from updates/
    EXPECT_EQ(packages["containerd.io"], "1.6.33-3.1.el7");
    // containerd.io's dependency, from extras/, and the kernel's (EL7's grubby, linux-firmware).
    EXPECT_EQ(packages["container-selinux"], "2:2.119.2-1");
    EXPECT_TRUE(packages.count("grubby") && packages.count("linux-firmware") && packages.count("dracut"));
    EXPECT_EQ(packages["rpm"], "4.11.3-48.al7");
    EXPECT_TRUE(packages.count("cloud-init"));
    EXPECT_FALSE(packages.count("systemd-udev")) << "EL7 has no systemd-udev; the recipe must not ask for it";
}

TEST_F(SeedRecipes, TencentOsLocksTheTlinuxKernel) {
    auto packages = lock("tencentos");
    EXPECT_EQ(packages["kernel"], "4.14.105-19.0013.tl2"); // from tlinux/
    EXPECT_EQ(packages["containerd.io"], "1.6.33-3.1.el7");
    EXPECT_EQ(packages["container-selinux"], "2:2.119.2-1");
    EXPECT_EQ(packages["rpm"], "4.11.3-48.al7");
}

TEST_F(SeedRecipes, Alinux3Locks) {
    auto packages = lock("alinux3");
    EXPECT_EQ(packages["kernel"], "5.10.134-16.al8");
    EXPECT_TRUE(packages.count("systemd-udev") && packages.count("containerd.io"));
}

// Only Tencent's kernel has kernel.stats_isolated; the old kernels drop what they lack.
TEST_F(SeedRecipes, EachKeepsTheTuningItsKernelHas) {
    auto tencentos = show("tencentos");
    EXPECT_EQ(tencentos.at("sysctl").at("kernel.stats_isolated"), 1);
    EXPECT_FALSE(has_arg(tencentos, "psi=1")); // 4.14 has no PSI
    EXPECT_FALSE(has_arg(tencentos, "systemd.unified_cgroup_hierarchy=1"));
    EXPECT_EQ(tencentos.at("sysctl").at("net.core.somaxconn"), 4096); // the profile's, kept

    auto alinux2 = show("alinux2");
    EXPECT_FALSE(alinux2.at("sysctl").contains("kernel.stats_isolated"));
    EXPECT_TRUE(has_arg(alinux2, "psi=1")); // Alibaba's 4.19 has PSI
    EXPECT_FALSE(has_arg(alinux2, "systemd.unified_cgroup_hierarchy=1"));

    auto alinux3 = show("alinux3");
    EXPECT_FALSE(alinux3.at("sysctl").contains("kernel.stats_isolated"));
    EXPECT_TRUE(has_arg(alinux3, "systemd.unified_cgroup_hierarchy=1"));
}

// EL7's rpm reads only a Berkeley DB rpmdb, which this host's librpm cannot write: the install stops
// before any package is installed, naming the recipe and why.
TEST_F(SeedRecipes, El7InstallIsRefusedForItsRpmDatabase) {
    IMGBUILD_SKIP_IF(unless_root("installing packages needs root"));
    for (const std::string which : {"alinux2", "tencentos"}) {
        fs::path root = dir.path() / (which + "-root");
        auto result = run("rootfs", which, {"-o", root.string(), "--stage", "install"});
        EXPECT_EQ(result.exit_code, 1) << which << ": " << result.err;
        std::string name = which == "alinux2" ? "alinux2-node" : "tencentos-node";
        EXPECT_NE(result.err.find("Failed to install recipe '" + name +
                                  "': its rpm 4.11.3-48.al7 reads only a Berkeley DB package database"),
                  std::string::npos)
            << result.err;
        EXPECT_FALSE(fs::exists(root / "var/lib/rpm")) << "nothing may be installed";
    }
}

// EL8's rpm 4.14.3 reads the sqlite database (read-only), which is all an ostree node needs: the
// alinux3 recipe with rpm added installs.
TEST_F(SeedRecipes, El8InstallWithRpmIsNotRefused) {
    IMGBUILD_SKIP_IF(unless_root("installing packages needs root"));
    fs::path recipe = dir.write("alinux3-rpm.yaml", "name: alinux3-rpm\ninclude: [" + recipe_path("alinux3-node.yaml") +
                                                        "]\npackages: [rpm]\n");
    fs::path root = dir.path() / "alinux3-root";
    std::vector<std::string> argv{"rootfs", recipe.string(), "-o", root.string(), "--stage", "install"};
    for (const auto& set : seeds.at("alinux3").set) argv.insert(argv.end(), {"--set", set});
    auto result = imgbuild(argv);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.err.find("Berkeley DB"), std::string::npos) << result.err;
    EXPECT_TRUE(fs::exists(root / "var/lib/rpm/rpmdb.sqlite") || fs::exists(root / "usr/share/rpm/rpmdb.sqlite"))
        << "the database is sqlite";
}

} // namespace
} // namespace imgbuild::test
