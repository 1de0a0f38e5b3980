// e2e: the default recipe's root filesystem from the host's Debian mirror: systemd, the 5.10 kernel and
// its modules, containerd; the package database lists exactly the lock; no documentation.

#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "imgbuild/resolve/lock.hpp"
#include "support/command.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;

const fs::path source_dir = IMGBUILD_SOURCE_DIR;
const fs::path e2e_cache = IMGBUILD_E2E_CACHE;

TEST(DebianRootfs, DefaultRecipeInstallsTheNode) {
    IMGBUILD_SKIP_IF(unless_root_and_mirror("installing packages needs root"));
    TempDir dir;
    fs::path recipe = source_dir / "recipes/debian12-node.yaml";
    auto result = run_imgbuild({"--cache-dir", e2e_cache.string(), "rootfs", recipe.string(), "-o",
                                (dir.path() / "root").string(), "--stage", "install"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    fs::path root = dir.path() / "root";

    ASSERT_EQ(run_imgbuild({"--cache-dir", e2e_cache.string(), "lock", recipe.string(), "-o",
                            (dir.path() / "lock.json").string()})
                  .exit_code,
              0);
    auto lock = resolve::read_lock(dir.path() / "lock.json");
    std::set<std::string> locked, installed;
    for (const auto& package : lock.packages) locked.insert(package.name + " " + package.version);
    auto listed = run_command({"dpkg-query", "--admindir=" + (root / "var/lib/dpkg").string(), "-W",
                               "-f=${db:Status-Abbrev}${Package} ${Version}\n"});
    std::istringstream lines(listed.out);
    for (std::string line; std::getline(lines, line);) {
        EXPECT_TRUE(line.starts_with("ii ")) << line;
        installed.insert(line.substr(3));
    }
    EXPECT_EQ(installed, locked);

    for (const char* path : {"usr/bin/systemctl", "usr/lib/systemd/systemd", "usr/bin/containerd", "usr/sbin/runc",
                             "usr/bin/dracut", "usr/bin/ostree", "usr/sbin/ip", "usr/sbin/ipvsadm"})
        EXPECT_TRUE(fs::exists(root / path)) << path;
    bool kernel = false, modules = false;
    for (const auto& entry : fs::directory_iterator(root / "boot"))
        kernel |= entry.path().filename().string().starts_with("vmlinuz-5.10.");
    for (const auto& entry : fs::directory_iterator(root / "usr/lib/modules"))
        modules |= entry.path().filename().string().starts_with("5.10.") && fs::exists(entry.path() / "modules.dep");
    EXPECT_TRUE(kernel) << "no 5.10 kernel in /boot";
    EXPECT_TRUE(modules) << "no 5.10 modules with modules.dep";
    EXPECT_FALSE(fs::exists(root / "boot/initrd.img")) << "INITRD=No: no initramfs-tools image";
    // docs: false — license files stay, documentation and man pages go.
    EXPECT_TRUE(fs::exists(root / "usr/share/doc/systemd/copyright"));
    EXPECT_FALSE(fs::exists(root / "usr/share/man/man1/systemctl.1.gz"));
    EXPECT_EQ(fs::read_symlink(root / "bin"), "usr/bin");
}

// A sysctl knob the image's kernel does not have is a recipe error at its line (exit 2), found by the
// names in the kernel and its modules; the profile's knobs, an interface's and a merged name pass.
TEST(DebianRootfs, ASysctlTheKernelLacksIsARecipeErrorAtItsLine) {
    IMGBUILD_SKIP_IF(unless_root_and_mirror("installing packages needs root"));
    TempDir dir;
    fs::path recipe =
        dir.write("typo.yaml", "include: [" + (source_dir / "recipes/debian12-node.yaml").string() +
                                   "]\nsysctl:\n  net.ipv4.conf.eth0.rp_filter: 1\n"
                                   "  net.core.somaxcon: 4096\n  net.ipv4.tcp_rmem: 4096 87380 6291456\n");
    auto result = run_imgbuild(
        {"--cache-dir", e2e_cache.string(), "rootfs", recipe.string(), "-o", (dir.path() / "root").string()});
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_NE(result.err.find("typo.yaml:4:3: sysctl 'net.core.somaxcon' is not a knob of kernel 5.10."),
              std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("(did you mean 'somaxconn'?)"), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("rp_filter"), std::string::npos) << "an interface's knob is the node's: " << result.err;
    EXPECT_EQ(result.err.find("tcp_rmem"), std::string::npos) << result.err;
    EXPECT_FALSE(fs::exists(dir.path() / "root")) << "nothing half-made under the final name";
}

} // namespace
} // namespace imgbuild::test
