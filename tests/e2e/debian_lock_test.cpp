// e2e: lock the default recipe against the host's Debian mirror, and check the set against what apt
// itself would install for the same request (apt-get install -s in a throwaway root).

#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "imgbuild/recipe/apt_sources.hpp"
#include "support/command.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path source_dir = IMGBUILD_SOURCE_DIR;
const fs::path e2e_cache = IMGBUILD_E2E_CACHE;

class DebianLock : public ::testing::Test {
protected:
    void SetUp() override {
        archives = recipe::find_debian_archives(recipe::read_apt_sources("/etc/apt"));
        if (!archives.main || !archives.security)
            GTEST_SKIP() << "skipped: the host's apt sources name no Debian main and security archive";
    }
    recipe::DebianArchives archives;
};

// What `apt-get install -s --no-install-recommends` would install into an empty system.
std::set<std::string> apt_choice(const recipe::DebianArchives& archives, const std::vector<std::string>& packages,
                                 const fs::path& root) {
    for (const char* dir : {"etc/apt/sources.list.d", "etc/apt/preferences.d", "var/lib/apt/lists/partial",
                            "var/lib/dpkg", "var/cache/apt/archives/partial"})
        fs::create_directories(root / dir);
    std::ofstream(root / "var/lib/dpkg/status").flush();
    std::string keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
    std::ofstream(root / "etc/apt/sources.list")
        << "deb [signed-by=" << keyring << "] " << *archives.main << " bookworm main\n"
        << "deb [signed-by=" << keyring << "] " << *archives.main << " bookworm-updates main\n"
        << "deb [signed-by=" << keyring << "] " << *archives.security << " bookworm-security main\n"
        << "deb [signed-by=" << keyring << "] " << *archives.security << " bullseye-security main\n";
    // The recipe's pin as apt says it: bullseye-security gives the kernel's packages and nothing else.
    std::ofstream(root / "etc/apt/preferences.d/kernel") << "Package: *\nPin: release n=bullseye-security\n"
                                                         << "Pin-Priority: -1\n\n"
                                                         << "Package: linux-image-amd64 linux-image-5.10.*-amd64\n"
                                                         << "Pin: release n=bullseye-security\nPin-Priority: 600\n";
    std::vector<std::string> options{"-o", "Dir=" + root.string(),
                                     "-o", "Dir::Etc=" + (root / "etc/apt").string(),
                                     "-o", "Dir::State::status=" + (root / "var/lib/dpkg/status").string(),
                                     "-o", "APT::Architecture=amd64",
                                     "-o", "APT::Architectures::=amd64",
                                     "-o", "Acquire::Check-Valid-Until=false",
                                     "-o", "Debug::NoLocking=1"};
    std::vector<std::string> update{"apt-get"};
    update.insert(update.end(), options.begin(), options.end());
    update.push_back("update");
    auto updated = run_command(update);
    EXPECT_EQ(updated.exit_code, 0) << updated.err;
    std::vector<std::string> install{"apt-get"};
    install.insert(install.end(), options.begin(), options.end());
    install.insert(install.end(), {"install", "-s", "--no-install-recommends"});
    install.insert(install.end(), packages.begin(), packages.end());
    auto simulated = run_command(install);
    EXPECT_EQ(simulated.exit_code, 0) << simulated.err;
    std::set<std::string> result;
    std::istringstream lines(simulated.out);
    for (std::string line; std::getline(lines, line);)
        if (line.starts_with("Inst ")) result.insert(line.substr(5, line.find(' ', 5) - 5));
    return result;
}

TEST_F(DebianLock, DefaultRecipeLocksTheNodeAsAptWould) {
    TempDir dir;
    fs::path lock_path = dir.path() / "debian12-node.lock.json";
    auto result = run_imgbuild({"--cache-dir", e2e_cache.string(), "lock",
                                (source_dir / "recipes/debian12-node.yaml").string(), "-o", lock_path.string()});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::ifstream stream(lock_path);
    json lock = json::parse(stream);

    std::map<std::string, json> packages;
    for (const auto& package : lock.at("packages")) packages[package.at("name")] = package;
    bool kernel_510 = std::any_of(packages.begin(), packages.end(), [](const auto& entry) {
        return entry.first.starts_with("linux-image-5.10.") && entry.first.ends_with("-amd64");
    });
    EXPECT_TRUE(kernel_510) << "no 5.10 kernel in the lock";
    for (const char* name : {"systemd", "containerd", "runc", "dracut", "ostree", "linux-image-amd64"})
        EXPECT_TRUE(packages.count(name)) << name << " is not in the lock";
    EXPECT_FALSE(packages.count("initramfs-tools")) << "dracut is the initramfs tool";
    EXPECT_TRUE(packages.at("systemd").at("version").get<std::string>().starts_with("252."));
    EXPECT_TRUE(packages.at("containerd").at("version").get<std::string>().starts_with("1.6."));
    EXPECT_TRUE(packages.at("linux-image-amd64").at("version").get<std::string>().starts_with("5.10."));
    EXPECT_EQ(packages.at("linux-image-amd64").at("repo"), "bullseye-security-kernel");
    for (const auto& [name, package] : packages) {
        if (!name.starts_with("linux-image-")) {
            EXPECT_NE(package.at("repo"), "bullseye-security-kernel") << name << " comes from the kernel's repo";
        }
    }
    for (const auto& [name, package] : packages) {
        EXPECT_TRUE(package.at("checksum").get<std::string>().starts_with("sha256:")) << name;
        EXPECT_GT(package.at("size").get<std::uint64_t>(), 0u) << name;
        EXPECT_TRUE(package.at("url").get<std::string>().ends_with(".deb")) << name;
    }
    EXPECT_GT(lock.at("source-date-epoch").get<std::int64_t>(), 1600000000);
    EXPECT_EQ(lock.at("repos").size(), 4u);

    // apt, asked for the recipe's packages and the Essential ones (what imgbuild installs), picks the same set.
    auto shown = run_imgbuild({"show", (source_dir / "recipes/debian12-node.yaml").string()});
    ASSERT_EQ(shown.exit_code, 0);
    std::vector<std::string> request = json::parse(shown.out).at("packages");
    for (const auto& [name, package] : packages)
        if (package.value("essential", false)) request.push_back(name);
    auto apt = apt_choice(archives, request, dir.path() / "apt-root");
    std::set<std::string> ours;
    for (const auto& [name, package] : packages) ours.insert(name);
    std::vector<std::string> only_apt, only_ours;
    std::set_difference(apt.begin(), apt.end(), ours.begin(), ours.end(), std::back_inserter(only_apt));
    std::set_difference(ours.begin(), ours.end(), apt.begin(), apt.end(), std::back_inserter(only_ours));
    std::cout << "imgbuild: " << ours.size() << " packages, apt: " << apt.size() << " packages\n";
    EXPECT_TRUE(only_apt.empty()) << "apt also installs: " << testing::PrintToString(only_apt);
    EXPECT_TRUE(only_ours.empty()) << "only imgbuild installs: " << testing::PrintToString(only_ours);
}

} // namespace
} // namespace imgbuild::test
