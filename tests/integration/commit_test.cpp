// imgbuild commit against the fixture repositories: the ostree layout of the commit, the tuning files,
// the kernel checks, reproducible checksums, parents, skip-when-unchanged, signatures checked with
// OpenSSL's own tool, static deltas, and diffs of commits. Building a root needs root.

#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "imgbuild/core/files.hpp"
#include "support/fixture_recipe.hpp"
#include "support/imgbuild_test.hpp"
#include "support/skip.hpp"

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;

const char* const ref = "fixture/x86_64/node";

// The bytes of a GVariant `ay` as `ostree show` prints it: [byte 0x01, 0x02, ...], or, when the
// last byte is the only nul, GLib's bytestring form b'...' (escapes, the final nul left out).
std::string gvariant_bytes(const std::string& text) {
    std::string bytes;
    auto quote = std::min(text.find("b'"), text.find("b\"")); // the first is the opening
    if (quote == std::string::npos) {
        std::smatch match;
        for (std::string rest = text; std::regex_search(rest, match, std::regex("0x([0-9a-f]{2})"));
             rest = match.suffix())
            bytes += static_cast<char>(std::stoi(match[1], nullptr, 16));
        return bytes;
    }
    char delimiter = text[quote + 1];
    for (std::size_t at = quote + 2; at < text.size() && text[at] != delimiter; ++at) {
        if (text[at] != '\\') {
            bytes += text[at];
            continue;
        }
        char next = text[++at];
        if (next >= '0' && next <= '7') {
            int value = 0;
            for (int digits = 0; digits < 3 && at < text.size() && text[at] >= '0' && text[at] <= '7'; ++digits)
                value = value * 8 + (text[at++] - '0');
            --at;
            bytes += static_cast<char>(value);
            continue;
        }
        static const std::string letters = "abfnrtv", values = "\a\b\f\n\r\t\v";
        auto letter = letters.find(next);
        bytes += letter == std::string::npos ? next : values[letter];
    }
    return bytes + '\0';
}

class CommitTest : public ImgbuildTest {
protected:
    CommitTest() : ImgbuildTest(fixed_date) {}
    void SetUp() override { IMGBUILD_SKIP_IF(unless_root("building a root needs root")); }

    // A node recipe on the fixture kernel (no IPVS in its config), with tuning the kernel has.
    fs::path recipe(const std::string& extra_sysctl = "", const std::string& extra = "") {
        return dir.write("fx.yaml", FixtureRecipe{.name = "fixture-node",
                                                  .version = "1.{date}.{n}",
                                                  .packages = "base-files, app, linux-image-fixture",
                                                  .rest = "kernel: {package: linux-image-fixture}\n"
                                                          "initramfs: {enabled: false}\n"
                                                          "sysctl:\n"
                                                          "  net.ipv4.ip_forward: 1\n"
                                                          "  net.core.default_qdisc: fq\n"
                                                          "  net.ipv4.tcp_congestion_control: bbr\n" +
                                                          extra_sysctl +
                                                          "modules-load: [br_netfilter, sch_fq, tcp_bbr]\n"
                                                          "files:\n"
                                                          "  - {path: /etc/fixture/node.conf, content: "
                                                          "\"role=node\\n\"}\n"
                                                          "ostree: {ref: fixture/x86_64/node}\n" +
                                                          extra}
                                        .text());
    }
    std::string commit(const std::string& repo = "repo", std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"commit", "fx.yaml", "--repo", repo};
        args.insert(args.end(), extra.begin(), extra.end());
        auto result = imgbuild(args);
        EXPECT_EQ(result.exit_code, 0) << result.err;
        std::string checksum = result.out.substr(0, result.out.find('\n'));
        EXPECT_TRUE(std::regex_match(checksum, std::regex("[0-9a-f]{64}"))) << result.out;
        return checksum;
    }
    CommandResult ostree(std::vector<std::string> args, const std::string& repo = "repo") {
        args.insert(args.begin(), {"ostree", "--repo=" + (dir.path() / repo).string()});
        return run_command(args);
    }
    std::string cat(const std::string& path) {
        auto result = ostree({"cat", ref, path});
        EXPECT_EQ(result.exit_code, 0) << path << ": " << result.err;
        return result.out;
    }
    // `ostree ls` of one path: "d00755 0 0 0 /usr" and the like, or "" when it does not exist.
    std::string ls(const std::string& path) {
        auto result = ostree({"ls", "-d", ref, path});
        if (result.exit_code != 0) return "";
        std::string line = result.out.substr(0, result.out.find('\n'));
        return std::regex_replace(line, std::regex(" +"), " ");
    }
};

TEST_F(CommitTest, CommitsTheRootInOstreeLayoutWithTheTuning) {
    recipe();
    std::string checksum = commit();
    auto fsck = ostree({"fsck"});
    EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
    EXPECT_EQ(ostree({"rev-parse", ref}).out, checksum + "\n");

    // The layout rules of docs/design.md §5.
    EXPECT_TRUE(ls("/etc").empty()) << "/etc is deployed from /usr/etc";
    EXPECT_TRUE(ls("/usr/etc").starts_with("d00755 0 0 0 /usr/etc"));
    EXPECT_TRUE(ls("/tmp").starts_with("d01777 0 0 0 /tmp")) << ls("/tmp");
    EXPECT_EQ(cat("/usr/etc/fixture/node.conf"), "role=node\n");
    EXPECT_EQ(cat("/usr/etc/machine-id"), "");
    for (auto [link, target] :
         {std::pair{"/home", "var/home"}, std::pair{"/root", "var/roothome"}, std::pair{"/opt", "var/opt"},
          std::pair{"/srv", "var/srv"}, std::pair{"/mnt", "var/mnt"}, std::pair{"/usr/local", "../var/usrlocal"}})
        EXPECT_TRUE(ls(link).ends_with(std::string(link) + " -> " + target)) << ls(link);
    for (const char* empty : {"/var", "/boot", "/dev", "/proc", "/sys", "/run"}) {
        auto listing = ostree({"ls", ref, empty});
        EXPECT_EQ(std::count(listing.out.begin(), listing.out.end(), '\n'), 1) << empty << " is not empty:\n"
                                                                               << listing.out;
    }
    // The package database under /usr, /var made by tmpfiles.d at boot.
    EXPECT_NE(cat("/usr/lib/sysimage/dpkg/status").find("Package: linux-image-fixture"), std::string::npos);
    std::string var = cat("/usr/lib/tmpfiles.d/imgbuild-var.conf");
    EXPECT_NE(var.find("L /var/lib/dpkg - - - - ../../usr/lib/sysimage/dpkg\n"), std::string::npos) << var;

    // The kernel where ostree looks for it; the tuning in /usr/lib.
    EXPECT_FALSE(ls("/usr/lib/modules/5.10.0-fixture-amd64/vmlinuz").empty());
    EXPECT_FALSE(ls("/usr/lib/modules/5.10.0-fixture-amd64/config").empty());
    std::string sysctl = cat("/usr/lib/sysctl.d/90-imgbuild.conf");
    EXPECT_NE(sysctl.find("net.ipv4.tcp_congestion_control = bbr\n"), std::string::npos) << sysctl;
    EXPECT_NE(sysctl.find("net.core.default_qdisc = fq\n"), std::string::npos) << sysctl;
    std::string modules = cat("/usr/lib/modules-load.d/imgbuild.conf");
    EXPECT_NE(modules.find("br_netfilter\nsch_fq\ntcp_bbr\n"), std::string::npos) << modules;
    std::string os_release = cat("/usr/lib/os-release");
    EXPECT_NE(os_release.find("IMAGE_ID=\"fixture-node\"\n"), std::string::npos) << os_release;
    EXPECT_NE(os_release.find("IMAGE_VERSION=\"1.20231114.0\"\n"), std::string::npos) << os_release;

    // What the commit says about itself.
    auto metadata = [&](const std::string& key) {
        return ostree({"show", checksum, "--print-metadata-key=" + key}).out;
    };
    EXPECT_EQ(metadata("version"), "'1.20231114.0'\n");
    EXPECT_EQ(metadata("ostree.bootable"), "true\n");
    EXPECT_EQ(metadata("ostree.linux"), "'5.10.0-fixture-amd64'\n");
    EXPECT_NE(metadata("imgbuild.packages").find("'linux-image-fixture 1.0 amd64'"), std::string::npos);
    EXPECT_TRUE(metadata("imgbuild.lock-digest").starts_with("'sha256:"));
    EXPECT_TRUE(metadata("imgbuild.recipe-digest").starts_with("'sha256:"));
    EXPECT_NE(ostree({"log", ref}).out.find("Date:  2023-11-14 22:13:20 +0000"), std::string::npos)
        << "the commit's time is SOURCE_DATE_EPOCH";
    EXPECT_FALSE(fs::exists(dir.path() / "cache/work") && !fs::is_empty(dir.path() / "cache/work"))
        << "the work root is removed after the commit";
}

TEST_F(CommitTest, SysctlTheKernelLacksFailsNamingTheOption) {
    recipe("  net.ipv4.vs.conntrack: 1\n");
    auto result = imgbuild({"commit", "fx.yaml", "--repo", "repo"});
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_NE(result.err.find("fx.yaml:13:3: sysctl 'net.ipv4.vs.conntrack' needs CONFIG_IP_VS, which kernel "
                              "5.10.0-fixture-amd64 does not have"),
              std::string::npos)
        << result.err;
    EXPECT_FALSE(fs::exists(dir.path() / "repo/refs/heads/fixture")) << "no commit from a failed build";
}

TEST_F(CommitTest, ModuleOfASysctlMustBeLoadedAtBoot) {
    // nf_conntrack is a module of the fixture kernel: its sysctl exists only once it is loaded.
    recipe("  net.netfilter.nf_conntrack_max: 1048576\n");
    auto result = imgbuild({"commit", "fx.yaml", "--repo", "repo"});
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_NE(result.err.find("needs the module nf_conntrack (CONFIG_NF_CONNTRACK=m), which is not in modules-load"),
              std::string::npos)
        << result.err;
}

TEST_F(CommitTest, SameInputsGiveTheSameChecksumAndAreNotBuiltTwice) {
    recipe();
    std::string first = commit("repo");
    std::string other = commit("other-repo");
    EXPECT_EQ(first, other) << "two builds from the same inputs";

    auto again = imgbuild({"commit", "fx.yaml", "--repo", "repo"});
    EXPECT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(again.out, first + "\n");
    EXPECT_NE(again.err.find("unchanged: fixture/x86_64/node is already " + first), std::string::npos) << again.err;
    EXPECT_EQ(again.err.find("installed"), std::string::npos) << "nothing is built: " << again.err;

    // --force builds anyway: the same tree, a new commit on top.
    std::string forced = commit("repo", {"--force"});
    EXPECT_NE(forced, first);
    EXPECT_EQ(ostree({"rev-parse", std::string(ref) + "^"}).out, first + "\n");
    EXPECT_EQ(ostree({"show", forced, "--print-metadata-key=version"}).out, "'1.20231114.1'\n");
}

TEST_F(CommitTest, AChangeMakesACommitWhoseParentIsThePreviousBuild) {
    recipe();
    std::string first = commit();
    recipe("  fs.inotify.max_user_watches: 524288\n", "");
    // A changed overlay or file counts as much as the recipe's text: add a package too.
    std::string text = read_file(dir.path() / "fx.yaml");
    text =
        std::regex_replace(text, std::regex("packages: \\[base-files, app,"), "packages: [base-files, app, scripted,");
    dir.write("fx.yaml", text);
    std::string second = commit();
    EXPECT_NE(second, first);
    EXPECT_EQ(ostree({"rev-parse", std::string(ref) + "^"}).out, first + "\n");
    auto log = ostree({"log", ref});
    EXPECT_NE(log.out.find("Version: 1.20231114.1"), std::string::npos) << log.out;
    EXPECT_NE(log.out.find("Version: 1.20231114.0"), std::string::npos) << log.out;
    EXPECT_NE(cat("/usr/lib/sysctl.d/90-imgbuild.conf").find("fs.inotify.max_user_watches = 524288"),
              std::string::npos);

    // diff learns commits: by ref and REF^, and by checksum.
    auto diff = imgbuild({"diff", "--repo", "repo", std::string(ref) + "^", ref});
    EXPECT_EQ(diff.exit_code, 0) << diff.err;
    EXPECT_NE(diff.out.find("scripted"), std::string::npos) << diff.out;
    auto json = imgbuild({"diff", "--repo", "repo", "--json", first, second});
    EXPECT_NE(json.out.find("\"name\": \"scripted\""), std::string::npos) << json.out;
    auto missing = imgbuild({"diff", "--repo", "repo", first, "no-such-ref"});
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.err.find("no-such-ref"), std::string::npos) << missing.err;
}

TEST_F(CommitTest, SignsCommitsInOstreeFormatAndMakesStaticDeltas) {
    // Keys as `ostree sign` documents them: base64 of the seed and the public key; and PEM.
    auto key = run_command({"sh", "-ec",
                            "openssl genpkey -algorithm ed25519 -out key.pem\n"
                            "openssl pkey -in key.pem -pubout -out pub.pem\n"
                            "{ openssl pkey -outform DER -in key.pem | tail -c 32;"
                            "  openssl pkey -outform DER -pubout -in key.pem | tail -c 32; } | base64 -w0 >key.secret"},
                           dir.path());
    ASSERT_EQ(key.exit_code, 0) << key.err;
    recipe("", "");
    std::string text = read_file(dir.path() / "fx.yaml");
    text =
        std::regex_replace(text, std::regex("ostree: \\{ref: fixture/x86_64/node\\}"),
                           "ostree: {ref: fixture/x86_64/node, sign: {ed25519-key: key.secret}, static-delta: true}");
    dir.write("fx.yaml", text);
    std::string first = commit();
    std::string second = commit("repo", {"--force"});

    for (const auto& checksum : {first, second}) {
        // The signature, checked by OpenSSL's tool against the commit object's bytes.
        auto signature = ostree({"show", checksum, "--print-detached-metadata-key=ostree.sign.ed25519"});
        ASSERT_EQ(signature.exit_code, 0) << signature.err;
        std::string bytes = gvariant_bytes(signature.out);
        ASSERT_EQ(bytes.size(), 64u) << signature.out;
        write_file_atomic(dir.path() / "sig.bin", bytes);
        fs::path object = dir.path() / "repo/objects" / checksum.substr(0, 2) / (checksum.substr(2) + ".commit");
        auto verify = run_command({"openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in",
                                   object.string(), "-sigfile", "sig.bin"},
                                  dir.path());
        EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    }
    auto deltas = ostree({"static-delta", "list"});
    EXPECT_NE(deltas.out.find(first + "-" + second), std::string::npos) << deltas.out;
}

TEST_F(CommitTest, AnUnusableKeyIsARecipeErrorBeforeAnythingIsBuilt) {
    dir.write("bad.secret", "bm90IGEga2V5\n");
    recipe("", "");
    std::string text = read_file(dir.path() / "fx.yaml");
    text = std::regex_replace(text, std::regex("ostree: \\{ref: fixture/x86_64/node\\}"),
                              "ostree: {ref: fixture/x86_64/node, sign: {ed25519-key: bad.secret}}");
    dir.write("fx.yaml", text);
    auto result = imgbuild({"commit", "fx.yaml", "--repo", "repo"});
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_TRUE(std::regex_search(result.err, std::regex("fx.yaml:[0-9]+:[0-9]+: .*bad.secret.* is not an "
                                                         "ed25519 secret key")))
        << result.err;
    EXPECT_FALSE(fs::exists(dir.path() / "cache/packages")) << "nothing fetched for a recipe that cannot sign";
}

TEST_F(CommitTest, RootfsShowsTheTreeACommitWouldHave) {
    recipe();
    auto result = imgbuild({"rootfs", "fx.yaml", "-o", "root"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    fs::path root = dir.path() / "root";
    EXPECT_TRUE(fs::exists(root / "usr/etc/fixture/node.conf"));
    EXPECT_FALSE(fs::exists(fs::symlink_status(root / "etc")));
    EXPECT_TRUE(fs::is_empty(root / "var"));
    EXPECT_TRUE(fs::exists(root / "usr/lib/modules/5.10.0-fixture-amd64/vmlinuz"));
    EXPECT_FALSE(fs::exists(root / "boot/vmlinuz-5.10.0-fixture-amd64"));

    auto installed = imgbuild({"rootfs", "fx.yaml", "-o", "installed", "--stage", "install"});
    ASSERT_EQ(installed.exit_code, 0) << installed.err;
    EXPECT_TRUE(fs::exists(dir.path() / "installed/etc"));
    EXPECT_TRUE(fs::exists(dir.path() / "installed/var/lib/dpkg/status"));
    EXPECT_FALSE(fs::exists(dir.path() / "installed/usr/lib/sysctl.d/90-imgbuild.conf"));
}

TEST_F(CommitTest, FailingPostprocessScriptNamesItselfAndLeavesNoCommit) {
    dir.write("scripts/break.sh", "echo about to fail\nexit 3\n");
    recipe("", "postprocess: [scripts/break.sh]\n");
    auto result = imgbuild({"commit", "fx.yaml", "--repo", "repo"});
    EXPECT_EQ(result.exit_code, 1) << result.err;
    EXPECT_NE(result.err.find("Failed to run the postprocess script 'scripts/break.sh' (fx.yaml:"), std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("about to fail"), std::string::npos) << result.err;
    EXPECT_EQ(run_command({"ostree", "--repo=" + (dir.path() / "repo").string(), "rev-parse", ref}).exit_code == 0,
              false);
    EXPECT_TRUE(!fs::exists(dir.path() / "cache/work") || fs::is_empty(dir.path() / "cache/work"))
        << "the work root of a failed build is removed";
}

TEST_F(CommitTest, PostprocessRunsInTheRootWithTheBuildsVersion) {
    dir.write("scripts/stamp.sh", "echo \"$IMGBUILD_NAME $IMGBUILD_VERSION\" >/usr/share/fixture/stamp\n"
                                  "test ! -e /work && test ! -e /home/build\n");
    recipe("", "postprocess: [scripts/stamp.sh]\n");
    commit();
    EXPECT_EQ(cat("/usr/share/fixture/stamp"), "fixture-node 1.20231114.0\n");
}

TEST_F(CommitTest, TheInstalledSetIsCachedAndScriptsCannotChangeTheCache) {
    // The script writes into, and changes the mode of, files the cache's objects share inodes with.
    dir.write("scripts/edit.sh", "echo edited >>/usr/share/fixture/app\nchmod 0600 /usr/share/fixture/app\n"
                                 "sed -i s/app/APP/ /usr/share/fixture/base-files\n");
    recipe("", "postprocess: [scripts/edit.sh]\n");
    auto first = imgbuild({"commit", "fx.yaml", "--repo", "repo"});
    ASSERT_EQ(first.exit_code, 0) << first.err;
    EXPECT_TRUE(std::regex_search(first.err, std::regex("installed [0-9]+ packages in"))) << first.err;

    // A second build of the same packages, into another repository: the installed set comes from the
    // cache, and the tree is the one a fresh install gives.
    auto second = imgbuild({"commit", "fx.yaml", "--repo", "other"});
    ASSERT_EQ(second.exit_code, 0) << second.err;
    EXPECT_TRUE(std::regex_search(second.err, std::regex("installed [0-9]+ packages from the cache"))) << second.err;
    EXPECT_EQ(second.out, first.out) << "the cached set gives the same commit";
    EXPECT_EQ(ostree({"cat", ref, "/usr/share/fixture/app"}, "other").out, "app 1.0\nedited\n");
    EXPECT_NE(ls("/usr/share/fixture/app").find("-00600"), std::string::npos) << ls("/usr/share/fixture/app");

    // The cache itself is unharmed: its objects still match their checksums, and its tree still has
    // the packages' own file.
    auto cache = (dir.path() / "cache/ostree").string();
    auto fsck = run_command({"ostree", "--repo=" + cache, "fsck"});
    EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
    auto refs = run_command({"ostree", "--repo=" + cache, "refs", "imgbuild/cache/install"});
    ASSERT_EQ(refs.exit_code, 0) << refs.err;
    std::string cached = "imgbuild/cache/install/" + refs.out.substr(0, refs.out.find('\n'));
    EXPECT_EQ(run_command({"ostree", "--repo=" + cache, "cat", cached, "/usr/share/fixture/app"}).out, "app 1.0\n");
    auto mode = run_command({"ostree", "--repo=" + cache, "ls", cached, "/usr/share/fixture/app"}).out;
    EXPECT_NE(mode.find("-00644"), std::string::npos) << mode;
}

TEST_F(CommitTest, AnotherPackageSetIsMadeAndCachedBesideTheFirst) {
    recipe();
    commit();
    std::string text = read_file(dir.path() / "fx.yaml");
    dir.write("fx.yaml", std::regex_replace(text, std::regex("packages: \\[base-files, app,"),
                                            "packages: [base-files, app, scripted,"));
    auto second = imgbuild({"commit", "fx.yaml", "--repo", "repo"});
    ASSERT_EQ(second.exit_code, 0) << second.err;
    EXPECT_TRUE(std::regex_search(second.err, std::regex("upgraded the installed set in .* 1 unpacked"))) << second.err;
    auto refs =
        run_command({"ostree", "--repo=" + (dir.path() / "cache/ostree").string(), "refs", "imgbuild/cache/install"});
    EXPECT_EQ(std::count(refs.out.begin(), refs.out.end(), '\n'), 2) << refs.out;
}

// A lock near a cached set (here: one package in a newer version from another repository, one more
// package whose script adds a system user) upgrades that set with dpkg instead of installing every
// package, and the tree is the one a fresh install of the lock gives. A lock that would remove a
// package from every cached set is installed afresh.
TEST_F(CommitTest, ANearLockUpgradesTheCachedSetToTheTreeAFreshInstallGives) {
    recipe();
    const std::string original = read_file(dir.path() / "fx.yaml");
    // The fixture-updates repository too, for libfoo 3.0.
    const std::string updates = deb_fixture_repo("fixture-updates", "updates");
    auto with = [&](const std::string& listed) {
        dir.write("fx.yaml",
                  std::regex_replace(original, std::regex("packages: \\[base-files, app, linux-image-fixture"),
                                     updates + "packages: [" + listed));
    };
    // One version for every build: the trees compared differ in nothing else.
    auto commit_into = [&](const std::string& repo, const std::string& cache) {
        return run_imgbuild(
            {"--cache-dir", (dir.path() / cache).string(), "--set", "version=1", "commit", "fx.yaml", "--repo", repo},
            dir.path(), fixed_date);
    };
    with("base-files, app, linux-image-fixture, 'libfoo = 2.0'");
    ASSERT_EQ(commit_into("repo", "cache").exit_code, 0);
    with("base-files, app, linux-image-fixture, 'libfoo = 3.0', scripted");
    auto upgraded = commit_into("repo", "cache");
    ASSERT_EQ(upgraded.exit_code, 0) << upgraded.err;
    EXPECT_TRUE(std::regex_search(upgraded.err, std::regex("upgrading the cached set [0-9a-f]{12}: 2 packages "
                                                           "\\(libfoo 2.0 → 3.0, \\+scripted 1.0\\)")))
        << upgraded.err;
    EXPECT_TRUE(std::regex_search(upgraded.err, std::regex("upgraded the installed set in .*0 removed, 2 unpacked")))
        << upgraded.err;
    EXPECT_EQ(cat("/usr/share/fixture/libfoo"), "libfoo 3.0\n");
    EXPECT_NE(cat("/usr/etc/passwd").find("fixtured:"), std::string::npos) << "scripted's postinst ran";
    EXPECT_EQ(ls("/usr/lib/sysimage/dpkg/status-old"), "") << "no backups of dpkg's database";

    // The same lock installed afresh (another cache): the same tree.
    auto fresh = commit_into("fresh", "fresh-cache");
    ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
    EXPECT_TRUE(std::regex_search(fresh.err, std::regex("installed [0-9]+ packages in"))) << fresh.err;
    std::string fresh_commit = fresh.out.substr(0, fresh.out.find('\n'));
    ASSERT_EQ(ostree({"pull-local", (dir.path() / "fresh").string(), fresh_commit}).exit_code, 0);
    auto diff = ostree({"diff", ref, fresh_commit});
    EXPECT_EQ(diff.exit_code, 0) << diff.err;
    EXPECT_EQ(diff.out, "") << "the upgraded tree differs from a fresh install's";

    // Without app, which both cached sets have: a fresh install, not an upgrade.
    with("base-files, linux-image-fixture, 'libfoo = 3.0', scripted");
    auto removed = commit_into("repo", "cache");
    ASSERT_EQ(removed.exit_code, 0) << removed.err;
    EXPECT_TRUE(std::regex_search(removed.err, std::regex("installed [0-9]+ packages in"))) << removed.err;
    EXPECT_EQ(removed.err.find("upgrad"), std::string::npos) << removed.err;
    EXPECT_EQ(ls("/usr/share/fixture/app"), "");
}

TEST_F(CommitTest, TheCacheKeepsTheFourMostRecentlyUsedSets) {
    recipe();
    const std::string original = read_file(dir.path() / "fx.yaml");
    auto with = [&](const std::string& extra) {
        dir.write("fx.yaml", std::regex_replace(original, std::regex("packages: \\[base-files, app,"),
                                                "packages: [base-files, app, " + extra + ","));
        auto result = imgbuild({"commit", "fx.yaml", "--repo", "repo"});
        EXPECT_EQ(result.exit_code, 0) << result.err;
        return result.err;
    };
    // Five sets, one after the other, one of them used again on the way.
    with("scripted");
    with("app-extras");
    with("dash");
    EXPECT_TRUE(std::regex_search(with("scripted"), std::regex("installed [0-9]+ packages from the cache")))
        << "a set still cached";
    with("gawk");
    with("mawk");
    auto refs =
        run_command({"ostree", "--repo=" + (dir.path() / "cache/ostree").string(), "refs", "imgbuild/cache/install"});
    EXPECT_EQ(std::count(refs.out.begin(), refs.out.end(), '\n'), 4) << refs.out;
    // app-extras' set was used least recently: it went; scripted's (used again) stayed.
    EXPECT_TRUE(std::regex_search(with("scripted"), std::regex("installed [0-9]+ packages from the cache")));
    EXPECT_TRUE(std::regex_search(with("app-extras"), std::regex("upgraded the installed set in")));
    auto fsck = run_command({"ostree", "--repo=" + (dir.path() / "cache/ostree").string(), "fsck"});
    EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
}

} // namespace
} // namespace imgbuild::test
