// Every cache entry is checked before use and heals when damaged: package lists, the signed index
// content, .solv files and their extras, packages, repacked .debs, the installed sets in the cache's
// bare ostree repository (and any object of it a commit would reuse), and the qcow2 cluster cache. Each
// is damaged the ways a disk or a person damages a file (bytes edited; edited with the times set back;
// truncated; replaced by a symlink to a file with the same bytes), and the next run must warn, heal,
// and give what a clean cache gives (the same lock, the same tree, the same commit checksum, a
// published repository that `ostree fsck` accepts). The imgbuild binary against the fixture repos.

#include <fcntl.h>
#include <sys/stat.h>
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

enum class Damage { edit, edit_keeping_times, truncate, symlink };
constexpr Damage all_damages[] = {Damage::edit, Damage::edit_keeping_times, Damage::truncate, Damage::symlink};

std::string name_of(Damage damage) {
    switch (damage) {
    case Damage::edit: return "bytes edited";
    case Damage::edit_keeping_times: return "bytes edited, times set back";
    case Damage::truncate: return "truncated";
    case Damage::symlink: return "replaced by a symlink";
    }
    return "";
}

// Damages `file` in place. A symlink points at a copy with the very same bytes, in `scratch`: a cache
// entry must be a regular file, whatever a link leads to.
void damage(const fs::path& file, Damage how, const fs::path& scratch) {
    struct stat before {};
    ASSERT_EQ(::lstat(file.c_str(), &before), 0) << file;
    ASSERT_TRUE(S_ISREG(before.st_mode)) << file;
    ASSERT_GT(before.st_size, 0) << file;
    switch (how) {
    case Damage::edit:
    case Damage::edit_keeping_times: {
        std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
        auto at = static_cast<std::streamoff>(before.st_size / 2);
        stream.seekg(at);
        char byte = static_cast<char>(stream.get() ^ 0x55);
        stream.seekp(at);
        stream.put(byte);
        stream.close();
        if (how == Damage::edit_keeping_times) {
            const struct timespec times[2] = {before.st_atim, before.st_mtim};
            ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
            struct stat after {};
            ::lstat(file.c_str(), &after);
            ASSERT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
            ASSERT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
        }
        break;
    }
    case Damage::truncate: fs::resize_file(file, static_cast<std::uintmax_t>(before.st_size / 2)); break;
    case Damage::symlink: {
        fs::create_directories(scratch);
        fs::path copy = scratch / (file.filename().string() + "." + std::to_string(::getpid()) + "-" +
                                   std::to_string(before.st_ino));
        fs::copy_file(file, copy, fs::copy_options::overwrite_existing);
        fs::remove(file);
        fs::create_symlink(copy, file);
        break;
    }
    }
}

// The one file in `dir` whose name ends with `suffix`.
fs::path only_file(const fs::path& dir, const std::string& suffix) {
    std::vector<fs::path> found;
    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.path().filename().string().ends_with(suffix)) found.push_back(entry.path());
    EXPECT_EQ(found.size(), 1u) << dir << " *" << suffix;
    return found.empty() ? fs::path() : found.front();
}

class CacheTest : public ImgbuildTest {
protected:
    CacheTest() : ImgbuildTest(fixed_date) {}
    fs::path scratch() const { return dir.path() / "elsewhere"; }

    fs::path deb_recipe(const std::string& packages, const std::string& file = "deb.yaml") {
        return dir.write(file, FixtureRecipe{.packages = packages}.text());
    }
    // A node recipe on the fixture kernel, as commit_test.cpp's.
    fs::path node_recipe(const std::string& packages = "base-files, app, scripted, linux-image-fixture",
                         const std::string& extra = "") {
        return dir.write("fx.yaml", FixtureRecipe{.name = "fixture-node",
                                                  .version = "1.{date}.{n}",
                                                  .packages = packages,
                                                  .rest = "kernel: {package: linux-image-fixture}\n"
                                                          "initramfs: {enabled: false}\n"
                                                          "sysctl: {net.ipv4.ip_forward: 1}\n"
                                                          "files:\n"
                                                          "  - {path: /etc/fixture/node.conf, content: "
                                                          "\"role=node\\n\"}\n"
                                                          "ostree: {ref: fixture/x86_64/node}\n" +
                                                          extra}
                                        .text());
    }
    CommandResult ostree(const fs::path& repo, std::vector<std::string> args) {
        args.insert(args.begin(), {"ostree", "--repo=" + repo.string()});
        return run_command(args);
    }
    void expect_fsck(const fs::path& repo) {
        auto fsck = ostree(repo, {"fsck"});
        EXPECT_EQ(fsck.exit_code, 0) << repo << ": " << fsck.out << fsck.err;
    }
    // The checksums `ostree ls -d -C` prints for `path` in `ref`: a file's object, or a directory's
    // dirtree and dirmeta.
    std::vector<std::string> checksums(const fs::path& repo, const std::string& ref, const std::string& path) {
        auto listed = ostree(repo, {"ls", "-d", "-C", ref, path});
        EXPECT_EQ(listed.exit_code, 0) << listed.err;
        std::vector<std::string> found;
        std::istringstream fields(listed.out);
        for (std::string field; fields >> field;)
            if (std::regex_match(field, std::regex("[0-9a-f]{64}"))) found.push_back(field);
        return found;
    }
    fs::path object(const fs::path& repo, const std::string& checksum, const std::string& kind) {
        return repo / "objects" / checksum.substr(0, 2) / (checksum.substr(2) + "." + kind);
    }
    std::string cached_set() {
        auto refs = ostree(cache() / "ostree", {"refs", "imgbuild/cache/install"});
        EXPECT_EQ(std::count(refs.out.begin(), refs.out.end(), '\n'), 1) << refs.out;
        return "imgbuild/cache/install/" + refs.out.substr(0, refs.out.find('\n'));
    }
};

TEST_F(CacheTest, PackageListsIndexContentAndSolvFilesAreCheckedAndHealed) {
    auto recipe = deb_recipe("app, alt-user, awk-user");
    ASSERT_EQ(imgbuild({"lock", recipe.string(), "-o", "reference.json"}).exit_code, 0);
    const std::string reference = read_file(dir.path() / "reference.json");
    auto relock = [&](const std::string& what, const std::string& warning) {
        auto result = imgbuild({"lock", recipe.string(), "-o", "again.json"});
        ASSERT_EQ(result.exit_code, 0) << what << ": " << result.err;
        EXPECT_NE(result.err.find(warning), std::string::npos) << what << ": " << result.err;
        EXPECT_EQ(read_file(dir.path() / "again.json"), reference) << what;
    };

    for (Damage how : all_damages) {
        damage(only_file(cache() / "metadata", "-Packages.xz"), how, scratch());
        relock("Packages.xz " + name_of(how), "discarding the cached package list of repo 'fixture'");
        damage(only_file(cache() / "solv", ".solv"), how, scratch());
        relock(".solv " + name_of(how), "discarding the cached package index");
        damage(only_file(cache() / "repos", "") / "verified-content", how, scratch());
        relock("verified-content " + name_of(how), "verifying repo 'fixture' InRelease again");
    }

    // The extras libsolv does not keep, edited to a JSON that still parses: dash no longer Essential.
    fs::path record = only_file(cache() / "solv", ".solv.json");
    auto extras = json::parse(read_file(record));
    auto& essential = extras["extras"]["essential"];
    essential.erase(std::remove(essential.begin(), essential.end(), "dash"), essential.end());
    write_file_atomic(record, extras.dump());
    relock("extras edited", "discarding the cached package index");

    // Another list's .solv under this list's name, with this one's record: a valid .solv of the wrong
    // packages.
    ASSERT_EQ(
        imgbuild({"lock",
                  dir.write("updates.yaml",
                            FixtureRecipe{.repos = deb_fixture_repo("fixture-updates"), .packages = "libfoo"}.text())
                      .string(),
                  "-o", "updates.json"})
            .exit_code,
        0);
    fs::path ours = record.parent_path() / record.stem();
    for (const auto& entry : fs::directory_iterator(cache() / "solv"))
        if (entry.path().extension() == ".solv" && entry.path() != ours)
            fs::copy_file(entry.path(), ours, fs::copy_options::overwrite_existing);
    relock("another list's .solv", "discarding the cached package index");
}

TEST_F(CacheTest, PackagesReplacedByALinkAreFetchedAgain) {
    ASSERT_EQ(imgbuild({"lock", deb_recipe("app").string(), "-o", "deb.lock.json"}).exit_code, 0);
    ASSERT_EQ(imgbuild({"fetch", "deb.lock.json"}).exit_code, 0);
    for (Damage how : all_damages) {
        fs::path package = only_file(cache() / "packages", "libfoo_2.0_amd64.deb");
        std::string checksum = package.filename().string().substr(0, 64);
        damage(package, how, scratch());
        auto healed = imgbuild({"fetch", "deb.lock.json"});
        ASSERT_EQ(healed.exit_code, 0) << name_of(how) << ": " << healed.err;
        EXPECT_NE(healed.err.find("discarding the cached libfoo 2.0"), std::string::npos) << healed.err;
        EXPECT_NE(healed.err.find("1 downloaded"), std::string::npos) << healed.err;
        EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(package)));
        EXPECT_EQ(checksum_file(package, DigestType::sha256).hex, checksum);
    }
}

class InstallingCacheTest : public CacheTest {
protected:
    void SetUp() override { IMGBUILD_SKIP_IF(unless_root("installing packages needs root")); }
};

// A repacked .deb (uncompressed data.tar) is used only while it is what was recorded when it was made.
TEST_F(InstallingCacheTest, RepackedPackagesAreCheckedAndMadeAgain) {
    auto recipe = deb_recipe("app, scripted");
    auto install = [&](const std::string& out) {
        // Without the installed set cached, so the packages are installed (from the repacked files).
        fs::remove_all(cache() / "ostree");
        return imgbuild({"rootfs", recipe.string(), "-o", out, "--stage", "install"});
    };
    auto first = install("root");
    ASSERT_EQ(first.exit_code, 0) << first.err;
    std::string tree = tree_digest(dir.path() / "root/usr");
    std::string status = read_file(dir.path() / "root/var/lib/dpkg/status");
    fs::path repacked = only_file(cache() / "debs", "libfoo_2.0_amd64.deb");
    EXPECT_TRUE(fs::exists(digest_record_path(repacked)));
    int n = 0;
    for (Damage how : all_damages) {
        damage(repacked, how, scratch());
        std::string out = "root-" + std::to_string(++n);
        auto again = install(out);
        ASSERT_EQ(again.exit_code, 0) << name_of(how) << ": " << again.err;
        EXPECT_NE(again.err.find("discarding the repacked package '" + repacked.string() + "'"), std::string::npos)
            << name_of(how) << ": " << again.err;
        EXPECT_EQ(tree_digest(dir.path() / out / "usr"), tree) << name_of(how);
        EXPECT_EQ(read_file(dir.path() / out / "var/lib/dpkg/status"), status) << name_of(how);
        EXPECT_TRUE(matches_recorded_digest(repacked)) << name_of(how);
    }
}

// An object of the cached installed set, damaged in the cache's repository: the set is dropped and
// installed afresh, and the commit is the clean cache's, published intact.
TEST_F(InstallingCacheTest, ADamagedObjectOfTheInstalledSetDropsTheSet) {
    node_recipe();
    auto first = imgbuild({"commit", "fx.yaml", "--repo", "repo"});
    ASSERT_EQ(first.exit_code, 0) << first.err;
    fs::path repo = cache() / "ostree";
    int n = 0;
    for (Damage how : all_damages) {
        std::string set = cached_set();
        fs::path app = object(repo, checksums(repo, set, "/usr/share/fixture/app").at(0), "file");
        damage(app, how, scratch());
        std::string published = "repo-" + std::to_string(++n);
        auto again = imgbuild({"commit", "fx.yaml", "--repo", published});
        ASSERT_EQ(again.exit_code, 0) << name_of(how) << ": " << again.err;
        EXPECT_NE(again.err.find("discarding the cached tree " + set + ": 1 damaged object"), std::string::npos)
            << name_of(how) << ": " << again.err;
        EXPECT_NE(again.err.find("/usr/share/fixture/app"), std::string::npos) << again.err;
        EXPECT_TRUE(std::regex_search(again.err, std::regex("installed [0-9]+ packages in"))) << again.err;
        EXPECT_EQ(again.out, first.out) << name_of(how) << ": the clean cache's commit";
        expect_fsck(dir.path() / published);
        expect_fsck(repo);
        EXPECT_EQ(ostree(dir.path() / published, {"cat", "fixture/x86_64/node", "/usr/share/fixture/app"}).out,
                  "app 1.0\n");
    }

    // A dirtree of the set (the directory /usr/share/fixture): the same.
    std::string set = cached_set();
    auto dirtree = object(repo, checksums(repo, set, "/usr/share/fixture").at(0), "dirtree");
    damage(dirtree, Damage::edit_keeping_times, scratch());
    auto again = imgbuild({"commit", "fx.yaml", "--repo", "repo-dirtree"});
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_NE(again.err.find("discarding the cached tree " + set +
                             ": 1 damaged object in the cache's repository "
                             "(the dirtree object"),
              std::string::npos)
        << again.err;
    EXPECT_EQ(again.out, first.out);
    expect_fsck(dir.path() / "repo-dirtree");
    expect_fsck(repo);

    // The ref moved to another tree of the repository (here: the last build's commit).
    auto head = ostree(repo, {"rev-parse", "fixture/x86_64/node"}).out;
    head.pop_back();
    write_file_atomic(repo / "refs/heads" / cached_set(), head + "\n");
    auto moved = imgbuild({"commit", "fx.yaml", "--repo", "repo-moved"});
    ASSERT_EQ(moved.exit_code, 0) << moved.err;
    EXPECT_NE(moved.err.find("which was made for"), std::string::npos) << moved.err;
    EXPECT_EQ(moved.out, first.out);
}

// The nearest-set upgrade checks the set it starts from too.
TEST_F(InstallingCacheTest, TheNearestSetIsCheckedBeforeItIsUpgraded) {
    node_recipe("base-files, app, linux-image-fixture");
    ASSERT_EQ(imgbuild({"commit", "fx.yaml", "--repo", "repo"}).exit_code, 0);
    fs::path repo = cache() / "ostree";
    damage(object(repo, checksums(repo, cached_set(), "/usr/share/fixture/app").at(0), "file"),
           Damage::edit_keeping_times, scratch());
    node_recipe("base-files, app, scripted, linux-image-fixture");
    auto near = imgbuild({"commit", "fx.yaml", "--repo", "repo"});
    ASSERT_EQ(near.exit_code, 0) << near.err;
    EXPECT_NE(near.err.find("discarding the cached tree imgbuild/cache/install/"), std::string::npos) << near.err;
    EXPECT_TRUE(std::regex_search(near.err, std::regex("installed [0-9]+ packages in"))) << near.err;
    expect_fsck(dir.path() / "repo");
    EXPECT_EQ(ostree(dir.path() / "repo", {"cat", "fixture/x86_64/node", "/usr/share/fixture/app"}).out, "app 1.0\n");
}

// Objects of the build repository outside any cached set (here, what customize wrote in the last
// build) are reused by the next commit only when intact: a damaged one is written again.
TEST_F(InstallingCacheTest, DamagedObjectsOfTheLastCommitAreWrittenAgain) {
    node_recipe();
    auto first = imgbuild({"commit", "fx.yaml", "--repo", "repo"});
    ASSERT_EQ(first.exit_code, 0) << first.err;
    fs::path repo = cache() / "ostree";
    int n = 0;
    for (Damage how : all_damages) {
        damage(object(repo, checksums(repo, "fixture/x86_64/node", "/usr/etc/fixture/node.conf").at(0), "file"), how,
               scratch());
        std::string published = "repo-" + std::to_string(++n);
        auto again = imgbuild({"commit", "fx.yaml", "--repo", published});
        ASSERT_EQ(again.exit_code, 0) << name_of(how) << ": " << again.err;
        EXPECT_NE(again.err.find("replacing the damaged object"), std::string::npos) << name_of(how) << again.err;
        EXPECT_EQ(again.out, first.out) << name_of(how);
        expect_fsck(dir.path() / published);
        EXPECT_EQ(ostree(dir.path() / published, {"cat", "fixture/x86_64/node", "/usr/etc/fixture/node.conf"}).out,
                  "role=node\n");
    }
    // Its directory's dirtree.
    damage(object(repo, checksums(repo, "fixture/x86_64/node", "/usr/etc/fixture").at(0), "dirtree"), Damage::edit,
           scratch());
    auto again = imgbuild({"commit", "fx.yaml", "--repo", "repo-dirtree"});
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_NE(again.err.find("replacing the damaged dirtree object"), std::string::npos) << again.err;
    EXPECT_EQ(again.out, first.out);
    expect_fsck(dir.path() / "repo-dirtree");
    expect_fsck(repo);
}

// The qcow2 cluster cache: bytes of the cached image edited with its modification time set back are
// caught (its change time moved) and the damaged clusters compressed again; a truncated or linked
// file is not used. Each image stays what QEMU reads as the raw disk.
TEST_F(InstallingCacheTest, TheQcow2ClusterCacheIsCheckedAndHealed) {
    node_recipe("base-files, app, linux-image-fixture",
                "image: {formats: [raw, qcow2], size: 256MiB, compress: zstd}\n");
    auto build = [&](const std::string& what) {
        auto result = imgbuild({"build", "fx.yaml", "-o", "out", "--force", "--explain"});
        EXPECT_EQ(result.exit_code, 0) << what << ": " << result.err;
        fs::path built = fs::canonical(dir.path() / "out/builds/latest");
        auto manifest = json::parse(read_file(built / "manifest.json"));
        fs::path qcow2 = built / manifest["artifacts"]["qcow2"]["file"].get<std::string>();
        fs::path raw = built / manifest["artifacts"]["raw"]["file"].get<std::string>();
        auto check = run_command({"qemu-img", "check", qcow2.string()});
        EXPECT_EQ(check.exit_code, 0) << what << ": " << check.out << check.err;
        auto compare = run_command({"qemu-img", "compare", "-f", "raw", "-F", "qcow2", raw.string(), qcow2.string()});
        EXPECT_EQ(compare.exit_code, 0) << what << ": " << compare.out << compare.err;
        EXPECT_EQ(manifest["artifacts"]["qcow2"]["sha256"], checksum_file(qcow2, DigestType::sha256).hex);
        return result.err;
    };
    if (run_command({"qemu-img", "--version"}).exit_code != 0) GTEST_SKIP() << "skipped: no qemu-img";
    build("first");
    EXPECT_NE(build("second").find("from the last image"), std::string::npos);

    // Every compressed cluster edited in its middle: whichever the next build copies is damaged.
    fs::path cached = only_file(cache() / "image", ".qcow2");
    auto index = json::parse(read_file(fs::path(cached).replace_extension(".json")));
    struct stat before {};
    ::stat(cached.c_str(), &before);
    {
        std::fstream stream(cached, std::ios::in | std::ios::out | std::ios::binary);
        for (const auto& [digest, entry] : index["clusters"].items())
            if (entry.at(2) == 0) {
                stream.seekp(static_cast<std::streamoff>(entry.at(0).get<std::uint64_t>() +
                                                         entry.at(1).get<std::uint64_t>() / 2));
                stream.write("damaged!", 8);
            }
    }
    const struct timespec times[2] = {before.st_atim, before.st_mtim};
    ::utimensat(AT_FDCWD, cached.c_str(), times, 0);
    auto healed = build("edited, times set back");
    EXPECT_TRUE(std::regex_search(healed, std::regex("the cached qcow2 had [0-9]+ damaged cluster"))) << healed;

    for (Damage how : {Damage::truncate, Damage::symlink}) {
        damage(only_file(cache() / "image", ".qcow2"), how, scratch());
        build(name_of(how));
    }
}

} // namespace
} // namespace imgbuild::test
