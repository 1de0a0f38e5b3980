// nearest_set: which cached installed set a build upgrades instead of installing afresh.

#include <gtest/gtest.h>

#include "imgbuild/commit/metadata.hpp"
#include "pipeline/install_cache.hpp"

namespace imgbuild::pipeline {
namespace {

using json = nlohmann::json;

resolve::LockedPackage package(std::string name, std::string version, std::string sum) {
    resolve::LockedPackage p;
    p.name = std::move(name);
    p.version = std::move(version);
    p.arch = "amd64";
    p.checksum = Checksum{DigestType::sha256, std::move(sum)};
    return p;
}

std::string line(const resolve::LockedPackage& p) {
    return p.name + " " + p.version + " " + p.arch + " " + p.checksum.str();
}

// A lock of `count` packages p0 … p<count-1>, version 1.
resolve::Lock lock_of(std::size_t count) {
    resolve::Lock lock;
    lock.format = "deb";
    lock.arch = "amd64";
    for (std::size_t i = 0; i < count; ++i) lock.packages.push_back(package("p" + std::to_string(i), "1", "aa"));
    return lock;
}

// A cached set: the lock's packages with the first `changed` at version 0, plus `extra` lines.
commit::CachedTree tree(const std::string& ref, const resolve::Lock& lock, std::size_t changed,
                        const std::string& settings = "s", std::vector<std::string> extra = {}) {
    std::vector<std::string> lines;
    for (std::size_t i = 0; i < lock.packages.size(); ++i) {
        auto p = lock.packages[i];
        if (i < changed) p.version = "0", p.checksum.hex = "00";
        lines.push_back(line(p));
    }
    for (auto& e : extra) lines.push_back(std::move(e));
    return {ref,
            "checksum",
            {{std::string(commit::key::install_settings), settings},
             {std::string(commit::key::install_packages), json(lines).dump()}}};
}

TEST(NearestSet, NoneWithoutCachedSets) { EXPECT_FALSE(nearest_set({}, "s", lock_of(10))); }

TEST(NearestSet, TheFewestChangesWins) {
    auto lock = lock_of(50);
    auto nearest = nearest_set({tree("far", lock, 5), tree("near", lock, 2), tree("middle", lock, 3)}, "s", lock);
    ASSERT_TRUE(nearest);
    EXPECT_EQ(nearest->ref, "near");
    EXPECT_EQ(nearest->changes.unpacked, (std::vector<std::size_t>{0, 1}));
    EXPECT_TRUE(nearest->changes.removed.empty());
    EXPECT_EQ(nearest->lines.size(), 50u);
}

TEST(NearestSet, TheMostRecentlyUsedOfEqualOnesWins) {
    auto lock = lock_of(50);
    auto nearest = nearest_set({tree("recent", lock, 2), tree("older", lock, 2)}, "s", lock);
    ASSERT_TRUE(nearest);
    EXPECT_EQ(nearest->ref, "recent");
}

TEST(NearestSet, OnlySetsInstalledWithTheSameSettings) {
    auto lock = lock_of(50);
    auto nearest = nearest_set({tree("other", lock, 1, "t"), tree("same", lock, 3)}, "s", lock);
    ASSERT_TRUE(nearest);
    EXPECT_EQ(nearest->ref, "same");
    EXPECT_FALSE(nearest_set({tree("other", lock, 1, "t")}, "s", lock));
}

TEST(NearestSet, NeverASetThatNeedsARemoval) {
    auto lock = lock_of(50);
    auto nearest =
        nearest_set({tree("removes", lock, 1, "s", {"nano 5.4-2 amd64 sha256:99"}), tree("adds", lock, 4)}, "s", lock);
    ASSERT_TRUE(nearest);
    EXPECT_EQ(nearest->ref, "adds");
}

TEST(NearestSet, NoneWhenTooFarForAnUpgradeToPay) {
    // At most max(8, a fifth of the lock) changes.
    auto small = lock_of(10);
    EXPECT_TRUE(nearest_set({tree("t", small, 8)}, "s", small));
    EXPECT_FALSE(nearest_set({tree("t", small, 9)}, "s", small));
    auto large = lock_of(100);
    EXPECT_TRUE(nearest_set({tree("t", large, 20)}, "s", large));
    EXPECT_FALSE(nearest_set({tree("t", large, 21)}, "s", large));
}

TEST(NearestSet, NoneWhenASetEqualsTheLock) {
    auto lock = lock_of(10);
    EXPECT_FALSE(nearest_set({tree("same", lock, 0)}, "s", lock));
}

TEST(NearestSet, SetsWithoutOrWithBrokenRecordsAreSkipped) {
    auto lock = lock_of(10);
    commit::CachedTree bare{"bare", "checksum", {}};
    commit::CachedTree broken{
        "broken",
        "checksum",
        {{std::string(commit::key::install_settings), "s"}, {std::string(commit::key::install_packages), "not json"}}};
    EXPECT_FALSE(nearest_set({bare, broken}, "s", lock));
    auto nearest = nearest_set({bare, broken, tree("good", lock, 1)}, "s", lock);
    ASSERT_TRUE(nearest);
    EXPECT_EQ(nearest->ref, "good");
}

} // namespace
} // namespace imgbuild::pipeline
