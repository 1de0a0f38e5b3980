// What the pipeline derives from a recipe before building: the build's version, the ref its commits go
// on, and the digest of its inputs that decides whether a new commit is needed.

#include <gtest/gtest.h>

#include "imgbuild/pipeline/pipeline.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::pipeline {
namespace {

namespace fs = std::filesystem;

using test::TempDirTest;

constexpr std::int64_t epoch = 1700000000; // 2023-11-14 22:13:20 UTC

class PipelineRecipe : public TempDirTest {
protected:
    // A minimal valid recipe plus `extra` keys, written to DIR/<file> and loaded.
    recipe::Recipe load(const std::string& extra, const std::string& file = "r.yaml") const {
        auto path =
            dir.write(file, "name: n\n"
                            "format: deb\n"
                            "repos: [{name: r, type: deb, url: 'http://mirror.example/debian', suite: bookworm}]\n"
                            "packages: [a]\n" +
                                extra);
        return recipe::load(path, recipe::LoadOptions{{}, dir.path() / "no-apt"});
    }
};

// build_version: {date} is the UTC day of the epoch, {n} one more than the day's highest build.
using BuildVersion = PipelineRecipe;

TEST_F(BuildVersion, DateAndFirstNumber) {
    auto recipe = load("version: '11.{date}.{n}'\n");
    EXPECT_EQ(build_version(recipe, epoch, {}), "11.20231114.0");
}

TEST_F(BuildVersion, NextNumberAfterTheDaysHighest) {
    auto recipe = load("version: '11.{date}.{n}'\n");
    EXPECT_EQ(build_version(recipe, epoch, {"11.20231114.0", "11.20231114.3", "11.20231113.7"}), "11.20231114.4");
    // Versions of another pattern or another day do not count.
    EXPECT_EQ(build_version(recipe, epoch, {"12.20231114.9", "11.20231114.x", "11.20231114.5.1", "11.20231113.7"}),
              "11.20231114.0");
    EXPECT_EQ(build_version(recipe, epoch, {"11.20231114.9", "11.20231114.10"}), "11.20231114.11")
        << "numbers compare as numbers";
}

TEST_F(BuildVersion, WithoutNumberOnlyTheDate) {
    auto recipe = load("version: '11.{date}'\n");
    EXPECT_EQ(build_version(recipe, epoch, {}), "11.20231114");
    EXPECT_EQ(build_version(recipe, epoch, {"11.20231114"}), "11.20231114");
    EXPECT_EQ(build_version(load("version: '2.0'\n", "fixed.yaml"), epoch, {"2.0"}), "2.0");
}

TEST_F(BuildVersion, DefaultIsDateAndNumber) {
    auto recipe = load("");
    EXPECT_EQ(build_version(recipe, epoch, {}), "20231114.0");
    EXPECT_EQ(build_version(recipe, epoch, {"20231114.0", "20231114.1"}), "20231114.2");
}

TEST_F(BuildVersion, TheDayIsUtc) {
    auto recipe = load("");
    EXPECT_EQ(build_version(recipe, 1700006399, {}), "20231114.0"); // 23:59:59 UTC
    EXPECT_EQ(build_version(recipe, 1700006400, {}), "20231115.0"); // midnight UTC
    EXPECT_EQ(build_version(recipe, 0, {}), "19700101.0");
}

TEST_F(BuildVersion, RegexCharactersAreLiteral) {
    auto recipe = load("version: '1.0+{date}.{n}'\n");
    EXPECT_EQ(build_version(recipe, epoch, {}), "1.0+20231114.0");
    // "1.0020231114.9" would match if '.' and '+' were regex operators.
    EXPECT_EQ(build_version(recipe, epoch, {"1.0+20231114.2", "1.0020231114.9"}), "1.0+20231114.3");
    auto tilde = load("version: '1~rc.{date}-{n}'\n", "tilde.yaml");
    EXPECT_EQ(build_version(tilde, epoch, {"1~rc.20231114-4", "1~rc-20231114-9"}), "1~rc.20231114-5");
}

// A version names OUTDIR/builds/<version>: whatever the recipe's own checks let through, only one plain
// path component that is not the bundle's own 'latest' comes out, as a located recipe error otherwise.
TEST_F(BuildVersion, OnlyAPlainPathComponentNamesABuild) {
    for (const char* bad : {"..", ".", "latest", "a/b", ".hidden", "-x", "v(1)[{date}]*{n}?", "a b", "x\\ny"}) {
        try { // refused by the recipe's checks, or by build_version: either way located in the recipe
            auto recipe = load(fmt::format("version: \"{}\"\n", bad), "bad.yaml");
            build_version(recipe, epoch, {});
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const RecipeError& e) {
            EXPECT_NE(std::string(e.what()).find("bad.yaml:"), std::string::npos) << e.what();
        }
    }
    EXPECT_THROW(build_version(load("version: \"" + std::string(129, 'a') + "\"\n"), epoch, {}), RecipeError);
    auto longest = load("version: \"" + std::string(128, 'a') + "\"\n");
    EXPECT_EQ(build_version(longest, epoch, {}), std::string(128, 'a'));
}

// ref_of: ostree.ref when the recipe names one, else imgbuild/<name>/<arch>.
using RefOf = PipelineRecipe;

TEST_F(RefOf, ExplicitOrDerived) {
    EXPECT_EQ(ref_of(load("ostree: {ref: imgbuild/debian11/x86_64/node}\n")), "imgbuild/debian11/x86_64/node");
    EXPECT_EQ(ref_of(load("")), "imgbuild/n/x86_64") << "arch defaults to x86_64";
    EXPECT_EQ(ref_of(load("arch: x86_64\n")), "imgbuild/n/x86_64");
    EXPECT_EQ(ref_of(load("ostree: {static-delta: true}\n")), "imgbuild/n/x86_64");
}

// build_inputs_digest: the recipe, the files it names and the locked packages; not the lock's
// repository metadata or date, nor where the checkout lives.
class InputsDigest : public PipelineRecipe {
protected:
    void SetUp() override {
        dir.write("overlay/etc/motd", "hello\n");
        dir.write("overlay/usr/bin/tool", "#!/bin/sh\n");
    }

    static resolve::Lock lock() {
        resolve::Lock lock;
        lock.recipe_name = "n";
        lock.format = "deb";
        lock.arch = "amd64";
        lock.source_date_epoch = epoch;
        lock.repos.push_back({"r",
                              "deb",
                              "http://mirror.example/debian",
                              "bookworm",
                              {"main"},
                              500,
                              {{"dists/bookworm/InRelease", {DigestType::sha256, "aa"}, 100}}});
        lock.packages.push_back(resolve::LockedPackage{
            "a", "1.0-1", {}, {}, {}, "amd64", "r", "http://x/a.deb", Checksum{DigestType::sha256, "11"}, 10, 20});
        lock.packages.push_back(resolve::LockedPackage{
            "b", "2.0-1", {}, {}, {}, "all", "r", "http://x/b.deb", Checksum{DigestType::sha256, "22"}, 10, 20});
        return lock;
    }

    std::string digest() const { return build_inputs_digest(load("overlays: [overlay]\n"), lock()); }
};

TEST_F(InputsDigest, StableForTheSameInputs) {
    auto first = digest();
    EXPECT_TRUE(first.starts_with("sha256:")) << first;
    EXPECT_EQ(first.size(), 7u + 64u);
    EXPECT_EQ(digest(), first);
}

TEST_F(InputsDigest, ChangesWithPackages) {
    auto recipe = load("overlays: [overlay]\n");
    auto before = build_inputs_digest(recipe, lock());
    auto changed = lock();
    changed.packages[0].version = "1.0-2";
    EXPECT_NE(build_inputs_digest(recipe, changed), before);
    changed = lock();
    changed.packages[1].checksum.hex = "33";
    EXPECT_NE(build_inputs_digest(recipe, changed), before) << "same version, other file";
    changed = lock();
    changed.packages.pop_back();
    EXPECT_NE(build_inputs_digest(recipe, changed), before);
}

TEST_F(InputsDigest, ChangesWithTheOverlaysContent) {
    auto before = digest();
    dir.write("overlay/etc/motd", "hello again\n");
    auto edited = digest();
    EXPECT_NE(edited, before);
    dir.write("overlay/etc/issue", "new\n");
    EXPECT_NE(digest(), edited);
}

TEST_F(InputsDigest, ChangesWithTheRecipe) {
    auto before = digest();
    EXPECT_NE(build_inputs_digest(load("overlays: [overlay]\nsysctl: {vm.swappiness: 10}\n"), lock()), before);
}

TEST_F(InputsDigest, IgnoresTheLocksRepositoriesAndDate) {
    auto recipe = load("overlays: [overlay]\n");
    auto before = build_inputs_digest(recipe, lock());
    auto changed = lock();
    changed.source_date_epoch = epoch + 86400;
    EXPECT_EQ(build_inputs_digest(recipe, changed), before);
    changed = lock();
    changed.repos[0].metadata[0].checksum.hex = "bb";
    changed.repos.push_back({"security", "deb", "http://security.example/debian", "bookworm-security", {}, 500, {}});
    EXPECT_EQ(build_inputs_digest(recipe, changed), before);
}

TEST_F(InputsDigest, DoesNotDependOnWhereTheCheckoutLives) {
    auto before = digest();
    fs::path moved = dir.path() / "elsewhere";
    fs::create_directories(moved);
    fs::copy(dir.path() / "overlay", moved / "overlay", fs::copy_options::recursive);
    auto recipe = load("overlays: [overlay]\n", "elsewhere/r.yaml");
    EXPECT_EQ(build_inputs_digest(recipe, lock()), before);
}

// An overlay named through a symlink to a directory is copied with its target's content, so the
// digest follows the link too (editing the overlay must not look "unchanged").
TEST_F(InputsDigest, FollowsALinkedOverlay) {
    dir.write("real/etc/motd", "hello\n");
    fs::create_symlink("real", dir.path() / "linked");
    auto recipe = load("overlays: [linked]\n");
    auto before = build_inputs_digest(recipe, lock());
    dir.write("real/etc/motd", "changed\n");
    EXPECT_NE(build_inputs_digest(recipe, lock()), before);
}

} // namespace
} // namespace imgbuild::pipeline
