// compare_inputs and InputChanges::describe: what `build --explain` says changed between two builds'
// recorded inputs.

#include <gtest/gtest.h>

#include "imgbuild/pipeline/pipeline.hpp"

namespace imgbuild::pipeline {
namespace {

using json = nlohmann::json;

json inputs() {
    return {
        {"recipe", {{"name", "node"}, {"sysctl", {{"vm.swappiness", 10}}}, {"docs", false}}},
        {"imgbuild", "0.1.0 abc"},
        {"packages", {"bash 5.1-2 amd64 sha256:aa", "tzdata 2021a-1 all sha256:bb", "vim 2:8.2 amd64 sha256:cc"}},
        {"files", json::array({json::array({"overlay", "sha256:11"}), json::array({"scripts/a.sh", "sha256:22"})})}};
}

TEST(CompareInputs, TheSameInputsChangeNothing) {
    auto changes = compare_inputs(inputs(), inputs());
    EXPECT_FALSE(changes.first);
    EXPECT_TRUE(changes.recipe_keys.empty());
    EXPECT_TRUE(changes.files.empty());
    EXPECT_TRUE(changes.packages.empty());
    EXPECT_FALSE(changes.tool);
    EXPECT_EQ(changes.describe(), "");
}

TEST(CompareInputs, NamesTheRecipeKeysFilesAndPackagesThatChanged) {
    json after = inputs();
    after["recipe"]["sysctl"]["vm.swappiness"] = 1;
    after["recipe"].erase("docs");
    after["packages"] = {"bash 5.1-2 amd64 sha256:aa", "tzdata 2024a-0 all sha256:dd", "vim 2:8.2 amd64 sha256:ee",
                         "less 590-1 amd64 sha256:ff"};
    after["files"][1][1] = "sha256:33";
    auto changes = compare_inputs(inputs(), after);
    EXPECT_EQ(changes.recipe_keys, (std::vector<std::string>{"docs", "sysctl"}));
    EXPECT_EQ(changes.files, std::vector<std::string>{"scripts/a.sh"});
    EXPECT_EQ(changes.packages,
              (std::vector<std::string>{"+less 590-1", "tzdata 2021a-1 → 2024a-0", "vim 2:8.2 (rebuilt)"}));
    EXPECT_EQ(changes.describe(), "changed: the recipe's docs, sysctl; the file scripts/a.sh; 3 packages (+less 590-1, "
                                  "tzdata 2021a-1 → 2024a-0, vim 2:8.2 (rebuilt))");
    // A stage names only what it reads.
    EXPECT_EQ(changes.describe({"docs"}, false), "changed: the recipe's docs; 3 packages (+less 590-1, tzdata 2021a-1 "
                                                 "→ 2024a-0, vim 2:8.2 (rebuilt))");
    EXPECT_EQ(changes.describe({"initramfs"}, false, false), "");
}

TEST(CompareInputs, RemovedPackagesAndAnotherImgbuild) {
    json after = inputs();
    after["packages"].erase(2);
    after["imgbuild"] = "0.2.0 def";
    auto changes = compare_inputs(inputs(), after);
    EXPECT_EQ(changes.packages, std::vector<std::string>{"-vim"});
    EXPECT_TRUE(changes.tool);
    EXPECT_EQ(changes.describe(), "changed: 1 package (-vim); imgbuild");
}

TEST(CompareInputs, ABuildThatRecordedNoInputsIsNoComparison) {
    auto changes = compare_inputs(json::object(), inputs());
    EXPECT_TRUE(changes.first);
    EXPECT_EQ(changes.describe(), "no earlier build to compare with");
}

TEST(CompareInputs, ManyChangedPackagesAreCounted) {
    json before = inputs(), after = inputs();
    before["packages"] = json::array();
    after["packages"] = json::array();
    for (int i = 0; i < 8; ++i) after["packages"].push_back("p" + std::to_string(i) + " 1 all sha256:00");
    EXPECT_EQ(compare_inputs(before, after).describe(),
              "changed: 8 packages (+p0 1, +p1 1, +p2 1, +p3 1, +p4 1 and 3 more)");
}

} // namespace
} // namespace imgbuild::pipeline
