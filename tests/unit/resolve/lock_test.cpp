#include "imgbuild/resolve/lock.hpp"

#include <gtest/gtest.h>

#include "imgbuild/core/error.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::resolve {
namespace {

Lock sample() {
    Lock lock;
    lock.recipe_name = "n";
    lock.recipe_digest = "sha256:aa";
    lock.inputs_digest = "sha256:bb";
    lock.format = "rpm";
    lock.arch = "x86_64";
    lock.source_date_epoch = 1700000000;
    lock.repos.push_back(
        {"r", "rpm-md", "file:///r", "", {}, 500, {{"repodata/repomd.xml", {DigestType::sha256, "ab"}, 10}}});
    LockedPackage package{
        "app", "1:2.0-3", 1, "2.0", "3", "noarch", "r", "file:///r/app.rpm", {DigestType::sha256, "cd"}, 100, 200};
    lock.packages.push_back(package);
    return lock;
}

TEST(Lock, RoundTripsThroughJson) {
    test::TempDir dir;
    write_lock(sample(), dir.path() / "x.lock.json");
    EXPECT_EQ(read_lock(dir.path() / "x.lock.json"), sample());
    EXPECT_EQ(lock_text(sample()), lock_text(read_lock(dir.path() / "x.lock.json"))); // byte for byte
}

TEST(Lock, ReportsEveryMissingField) {
    auto json = sample().to_json();
    json["packages"][0].erase("checksum");
    json["packages"][0]["size"] = "big";
    json.erase("arch");
    try {
        lock_from_json(json, "x.lock.json");
        FAIL();
    } catch (const RecipeError& e) {
        ASSERT_EQ(e.diagnostics().size(), 3u);
        EXPECT_EQ(e.diagnostics()[0].str(), "x.lock.json: the lock has no 'arch'");
        EXPECT_EQ(e.diagnostics()[1].str(), "x.lock.json: packages[0] (\"app\") has no 'checksum'");
        EXPECT_EQ(e.diagnostics()[2].str(), "x.lock.json: 'size' of packages[0] (\"app\") has the wrong type: \"big\"");
    }
}

TEST(Lock, DiffComparesVersionsTheFormatsWay) {
    Lock before = sample(), after = sample();
    after.packages[0].version = "1:2.0-10"; // rpm: release 10 > 3
    auto diff = diff_locks(before, after);
    ASSERT_EQ(diff.upgraded.size(), 1u);
    EXPECT_EQ(format_diff(diff), "upgraded    app 1:2.0-3 → 1:2.0-10 (noarch)\n");
    after.packages[0].version = "0:9.0-1"; // a lower epoch
    EXPECT_EQ(diff_locks(before, after).downgraded.size(), 1u);
    after = sample();
    after.packages[0].checksum.hex = "ef";
    EXPECT_EQ(diff_locks(before, after).changed.size(), 1u);
    EXPECT_TRUE(diff_locks(before, before).empty());
}

} // namespace
} // namespace imgbuild::resolve
