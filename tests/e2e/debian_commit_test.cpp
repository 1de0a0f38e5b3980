// The default recipe committed: a 5.10 kernel with a dracut initramfs that boots ostree, the
// container-host tuning, units applied offline; `imgbuild kernel-check` passes for its kernel. Then the
// customizations the default recipe does not use (users, postprocess, minimisation) on the same packages.

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "imgbuild/core/files.hpp"
#include "support/command.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;

const fs::path source_dir = IMGBUILD_SOURCE_DIR;
const fs::path e2e_cache = IMGBUILD_E2E_CACHE;
const char* const ref = "imgbuild/debian12/x86_64/node";

TEST(DebianCommit, DefaultRecipeCommitsABootableTunedTree) {
    IMGBUILD_SKIP_IF(unless_root_and_mirror("building a root needs root"));
    TempDir dir;
    fs::path recipe = source_dir / "recipes/debian12-node.yaml";
    fs::path repo = dir.path() / "repo";
    auto result = run_imgbuild({"--cache-dir", e2e_cache.string(), "commit", recipe.string(), "--repo", repo.string()});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::string checksum = result.out.substr(0, 64);
    auto ostree = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {"ostree", "--repo=" + repo.string()});
        return run_command(args, dir.path());
    };
    auto fsck = ostree({"fsck"});
    EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;

    // The kernel and its initramfs in /usr/lib/modules/5.10.*, the commit marked bootable for it.
    std::string kver = ostree({"show", checksum, "--print-metadata-key=ostree.linux"}).out;
    ASSERT_TRUE(std::regex_match(kver, std::regex("'5\\.10\\.[0-9]+-[0-9]+-amd64'\n"))) << kver;
    kver = kver.substr(1, kver.size() - 3);
    std::string modules = "/usr/lib/modules/" + kver;
    auto listing = ostree({"ls", ref, modules}).out;
    for (const char* file : {"/vmlinuz", "/initramfs.img", "/config", "/modules.dep"})
        EXPECT_NE(listing.find(modules + file + "\n"), std::string::npos) << file << " in\n" << listing;
    EXPECT_EQ(ostree({"show", checksum, "--print-metadata-key=ostree.bootable"}).out, "true\n");
    EXPECT_EQ(ostree({"ls", ref, "/boot"}).out.find("vmlinuz"), std::string::npos) << "/boot is empty";

    // The initramfs holds ostree's dracut module and the recipe's drivers.
    ASSERT_EQ(ostree({"cat", ref, modules + "/initramfs.img"}).exit_code, 0);
    run_command({"sh", "-c",
                 "ostree --repo=" + repo.string() + " cat " + ref + " " + modules + "/initramfs.img >initramfs.img"},
                dir.path());
    auto initramfs = run_command({"lsinitrd", (dir.path() / "initramfs.img").string()});
    if (initramfs.exit_code == 127) {
        ADD_FAILURE() << "lsinitrd (dracut) is not installed on the host";
    } else {
        EXPECT_NE(initramfs.out.find("ostree-prepare-root"), std::string::npos);
        EXPECT_NE(initramfs.out.find("virtio_blk.ko"), std::string::npos);
        EXPECT_NE(initramfs.out.find("nvme.ko"), std::string::npos);
    }

    // The container-host tuning, in /usr/lib.
    std::string sysctl = ostree({"cat", ref, "/usr/lib/sysctl.d/90-imgbuild.conf"}).out;
    for (const char* line : {"net.ipv4.tcp_congestion_control = bbr\n", "net.core.default_qdisc = fq\n",
                             "net.netfilter.nf_conntrack_max = 1048576\n", "net.ipv4.vs.conn_reuse_mode = 1\n"})
        EXPECT_NE(sysctl.find(line), std::string::npos) << line << "in\n" << sysctl;
    std::string load = ostree({"cat", ref, "/usr/lib/modules-load.d/imgbuild.conf"}).out;
    for (const char* module : {"br_netfilter\n", "ip_vs\n", "nf_conntrack\n", "tcp_bbr\n"})
        EXPECT_NE(load.find(module), std::string::npos) << module;
    // Units applied offline: enabled through their [Install] section, masked to /dev/null.
    auto wants = ostree({"ls", ref, "/usr/etc/systemd/system/multi-user.target.wants"}).out;
    EXPECT_NE(wants.find("systemd-networkd.service ->"), std::string::npos) << wants;
    auto masked = ostree({"ls", ref, "/usr/etc/systemd/system/apt-daily.timer"}).out;
    EXPECT_NE(masked.find("-> /dev/null"), std::string::npos) << masked;
    EXPECT_NE(ostree({"cat", ref, "/usr/lib/os-release"}).out.find("IMAGE_ID=\"debian12-node\""), std::string::npos);

    // The node: containerd for kubelet, the root's growth, cloud-init's datasources of image.platform,
    // and no gpt-auto generator.
    std::string containerd = ostree({"cat", ref, "/usr/etc/containerd/config.toml"}).out;
    for (const char* line :
         {"SystemdCgroup = true", "snapshotter = \"overlayfs\"", "sandbox_image = \"registry.k8s.io/pause:3.9\"",
          "runtime_type = \"io.containerd.runc.v2\""})
        EXPECT_NE(containerd.find(line), std::string::npos) << line << " in\n" << containerd;
    EXPECT_NE(ostree({"cat", ref, "/usr/lib/repart.d/50-imgbuild-root.conf"}).out.find("Type=root\n"),
              std::string::npos);
    EXPECT_NE(ostree({"cat", ref, "/usr/lib/systemd/system/imgbuild-grow-root.service"}).out.find("systemd-growfs /\n"),
              std::string::npos);
    auto sysinit = ostree({"ls", ref, "/usr/lib/systemd/system/sysinit.target.wants"}).out;
    EXPECT_NE(sysinit.find("imgbuild-grow-root.service ->"), std::string::npos) << sysinit;
    EXPECT_NE(sysinit.find("systemd-repart.service ->"), std::string::npos) << sysinit;
    std::string cloud = ostree({"cat", ref, "/usr/etc/cloud/cloud.cfg.d/95-imgbuild-platform.cfg"}).out;
    EXPECT_NE(cloud.find("datasource_list: [AliYun, ConfigDrive, NoCloud]\n"), std::string::npos) << cloud;
    EXPECT_NE(
        ostree({"ls", ref, "/usr/etc/systemd/system-generators/systemd-gpt-auto-generator"}).out.find("-> /dev/null"),
        std::string::npos);

    // kernel-check of its kernel: the recipe, and the config the commit carries against kernel-config/.
    auto check = run_imgbuild({"--cache-dir", e2e_cache.string(), "kernel-check", recipe.string()});
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
    write_file_atomic(dir.path() / "config", ostree({"cat", ref, modules + "/config"}).out);
    auto config = run_imgbuild({"kernel-check", (dir.path() / "config").string()}, source_dir);
    EXPECT_EQ(config.exit_code, 0) << config.out << config.err;
    EXPECT_NE(config.out.find("container-host.config: all"), std::string::npos) << config.out;

    // Built again from the same inputs: nothing to do.
    auto again = run_imgbuild({"--cache-dir", e2e_cache.string(), "commit", recipe.string(), "--repo", repo.string()});
    EXPECT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(again.out, checksum + "\n");
    EXPECT_NE(again.err.find("unchanged"), std::string::npos) << again.err;
}

// A package upgraded between two builds: the installed set is the previous build's, upgraded by dpkg,
// and the initramfs is reused (libexpat1 changes no path and nothing dracut copies). The initramfs
// does not name the build's version (that would make it new with every build); os-release does.
TEST(DebianCommit, AnUpgradedPackageUpgradesTheCachedSetAndReusesTheInitramfs) {
    IMGBUILD_SKIP_IF(unless_root_and_mirror("building a root needs root"));
    TempDir dir;
    // Another version of libexpat1 than the lock's, from the repositories' package lists.
    auto listed = run_command({"sh", "-c",
                               "xz -dc " + (e2e_cache / "metadata").string() +
                                   "/*Packages.xz | awk '$1==\"Package:\"{n=$2} $1==\"Version:\" && "
                                   "n==\"libexpat1\"{print $2}' | sort -u"});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    auto lock =
        run_imgbuild({"--cache-dir", e2e_cache.string(), "lock", (source_dir / "recipes/debian12-node.yaml").string(),
                      "-o", (dir.path() / "lock.json").string()});
    ASSERT_EQ(lock.exit_code, 0) << lock.err;
    std::string current;
    auto locked = nlohmann::json::parse(read_file(dir.path() / "lock.json"));
    for (const auto& package : locked.at("packages"))
        if (package.at("name") == "libexpat1") current = package.at("version").get<std::string>();
    ASSERT_FALSE(current.empty()) << "libexpat1 is in the default lock";
    std::string other;
    std::istringstream versions(listed.out);
    for (std::string version; std::getline(versions, version);)
        if (!version.empty() && version != current) other = version;
    if (other.empty()) GTEST_SKIP() << "skipped: the mirror has only one libexpat1";

    // A cache of its own with the shared one's downloads (hardlinked): no installed set or initramfs
    // from an earlier run, so the first build installs and the second upgrades whenever it runs.
    fs::path cache = dir.path() / "cache";
    fs::create_directories(cache);
    for (const char* kept : {"packages", "metadata", "repos", "solv", "debs"}) {
        if (fs::exists(e2e_cache / kept)) {
            ASSERT_EQ(run_command({"cp", "-al", (e2e_cache / kept).string(), cache.string()}).exit_code, 0) << kept;
        }
    }
    auto build = [&](const std::string& pin) {
        dir.write("node.yaml", "include: [" + (source_dir / "recipes/debian12-node.yaml").string() +
                                   "]\npackages: [less" + pin + "]\n");
        return run_imgbuild({"--cache-dir", cache.string(), "commit", "node.yaml", "--repo", "repo"}, dir.path());
    };
    auto first = build(", 'libexpat1 = " + other + "'");
    ASSERT_EQ(first.exit_code, 0) << first.err;
    auto second = build("");
    ASSERT_EQ(second.exit_code, 0) << second.err;
    EXPECT_NE(second.err.find(": 1 package (libexpat1 " + other + " → " + current + ")"), std::string::npos)
        << second.err;
    EXPECT_NE(second.err.find("upgraded the installed set in"), std::string::npos) << second.err;
    EXPECT_NE(second.err.find("initramfs for 5.10"), std::string::npos) << second.err;
    EXPECT_NE(second.err.find("from the cache"), std::string::npos) << second.err;
    EXPECT_EQ(second.err.find("building the initramfs"), std::string::npos) << second.err;

    auto show = [&](const std::string& path) {
        return run_command({"ostree", "--repo=" + (dir.path() / "repo").string(), "cat", ref, path}).out;
    };
    std::string status = show("/usr/lib/sysimage/dpkg/status");
    EXPECT_NE(status.find("Package: libexpat1\nStatus: install ok installed"), std::string::npos);
    EXPECT_NE(show("/usr/lib/os-release").find("IMAGE_VERSION="), std::string::npos);
    std::string kver = run_command({"ostree", "--repo=" + (dir.path() / "repo").string(), "show", ref,
                                    "--print-metadata-key=ostree.linux"})
                           .out;
    ASSERT_GT(kver.size(), 3u);
    write_file_atomic(dir.path() / "initramfs.img",
                      show("/usr/lib/modules/" + kver.substr(1, kver.size() - 3) + "/initramfs.img"));
    auto release = run_command({"lsinitrd", "-f", "usr/lib/initrd-release", (dir.path() / "initramfs.img").string()});
    if (release.exit_code == 127) {
        ADD_FAILURE() << "lsinitrd (dracut) is not installed on the host";
    } else {
        EXPECT_NE(release.out.find("IMAGE_ID=\"debian12-node\""), std::string::npos) << release.out;
        EXPECT_EQ(release.out.find("IMAGE_VERSION"), std::string::npos) << release.out;
    }
}

TEST(DebianCommit, UsersScriptsAndMinimisation) {
    IMGBUILD_SKIP_IF(unless_root_and_mirror("building a root needs root"));
    TempDir dir;
    dir.write("scripts/stamp.sh", "#!/bin/sh\nset -e\nid ops >/usr/share/ops-id\n");
    fs::permissions(dir.path() / "scripts/stamp.sh", fs::perms::owner_all, fs::perm_options::add);
    dir.write("node.yaml", "include: [" + (source_dir / "recipes/debian12-node.yaml").string() +
                               "]\n"
                               "groups: [{name: ops-admins, gid: 2500}]\n"
                               "users:\n"
                               "  - name: ops\n"
                               "    uid: 1500\n"
                               "    groups: [ops-admins]\n"
                               "    shell: /bin/bash\n"
                               "    password-hash: '$6$salt$abcdefghijklmnopqrstuv'\n"
                               "    ssh-authorized-keys: ['ssh-ed25519 AAAAC3Nza ops@example']\n"
                               "postprocess: [scripts/stamp.sh]\n"
                               "package-manager: false\n"
                               "remove: [sshd]\n");
    auto result = run_imgbuild({"--cache-dir", e2e_cache.string(), "rootfs", "node.yaml", "-o", "root"}, dir.path());
    ASSERT_EQ(result.exit_code, 0) << result.err;
    fs::path root = dir.path() / "root";
    std::string passwd = read_file(root / "usr/etc/passwd");
    EXPECT_NE(passwd.find("ops:x:1500:"), std::string::npos) << passwd;
    EXPECT_NE(read_file(root / "usr/etc/group").find("ops-admins:x:2500:ops"), std::string::npos);
    EXPECT_NE(read_file(root / "usr/etc/shadow").find("ops:$6$salt$abcdefghijklmnopqrstuv:"), std::string::npos);
    // Rewritten with the hash, /etc/shadow keeps Debian's owner, group (shadow, 42) and mode.
    struct stat shadow {};
    ASSERT_EQ(::stat((root / "usr/etc/shadow").c_str(), &shadow), 0);
    EXPECT_EQ(shadow.st_uid, 0u);
    EXPECT_EQ(shadow.st_gid, 42u);
    EXPECT_EQ(shadow.st_mode & 07777, 0640u);
    EXPECT_TRUE(fs::exists(root / "usr/lib/sysusers.d/imgbuild.conf"));
    std::string tmpfiles = read_file(root / "usr/lib/tmpfiles.d/imgbuild-users.conf");
    // Paths quoted, the key's end escaped (tmpfiles.d(5)): no recipe text can start a line of its own.
    EXPECT_NE(tmpfiles.find("f \"/home/ops/.ssh/authorized_keys\" 0600 ops ops - ssh-ed25519 AAAAC3Nza ops@example\\n"),
              std::string::npos)
        << tmpfiles;
    EXPECT_EQ(read_file(root / "usr/share/ops-id").substr(0, 23), "uid=1500(ops) gid=1500(") << "the script ran";
    // No package manager on the node, its database kept (for the SBOM).
    EXPECT_FALSE(fs::exists(root / "usr/bin/dpkg"));
    EXPECT_FALSE(fs::exists(root / "usr/bin/apt-get"));
    EXPECT_TRUE(fs::exists(root / "usr/lib/sysimage/dpkg/status"));
    EXPECT_TRUE(fs::exists(root / "usr/bin/bash")) << "shells stay unless remove: [shells]";
}

} // namespace
} // namespace imgbuild::test
