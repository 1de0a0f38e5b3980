#include "recipe/merge.hpp"

#include <gtest/gtest.h>

#include "recipe/yaml_reader.hpp"

namespace imgbuild::recipe {
namespace {

Node yaml(std::string_view text, const char* file = "f.yaml") {
    std::vector<Diagnostic> d;
    auto node = read_yaml(text, file, d);
    EXPECT_TRUE(node && d.empty());
    return *node;
}

nlohmann::json merged(std::string_view base, std::string_view overlay, std::vector<Diagnostic>& d) {
    Node result = yaml(base, "base.yaml");
    merge_into(result, yaml(overlay, "overlay.yaml"), d);
    finish_merge(result, d);
    SourceMap sources;
    return to_json(result, sources);
}

nlohmann::json merged(std::string_view base, std::string_view overlay) {
    std::vector<Diagnostic> d;
    auto json = merged(base, overlay, d);
    EXPECT_TRUE(d.empty()) << d.front().str();
    return json;
}

TEST(Merge, MapsMergeListsAppendScalarsOverride) {
    auto json = merged("a: {x: 1, y: 2}\nl: [1, 2]\ns: old\n", "a: {y: 3, z: 4}\nl: [3]\ns: new\n");
    EXPECT_EQ(json, nlohmann::json::parse(R"({"a": {"x": 1, "y": 3, "z": 4}, "l": [1, 2, 3], "s": "new"})"));
}

TEST(Merge, RemoveDropsAnInheritedListItemOrKey) {
    auto json = merged("l: [a, b, c]\nm: {k1: 1, k2: 2}\n", "l: [!remove b, d]\nm: {k1: !remove}\n");
    EXPECT_EQ(json, nlohmann::json::parse(R"({"l": ["a", "c", "d"], "m": {"k2": 2}})"));
}

TEST(Merge, RemoveMatchesMappingsByNameOrPath) {
    auto json = merged("repos: [{name: one}, {name: two}]\nfiles: [{path: /etc/a}, {path: /etc/b}]\n",
                       "repos: [!remove one]\nfiles: [!remove /etc/b]\n");
    EXPECT_EQ(json, nlohmann::json::parse(R"({"repos": [{"name": "two"}], "files": [{"path": "/etc/a"}]})"));
}

TEST(Merge, ReplaceReplacesInsteadOfMerging) {
    auto json = merged("l: [a, b]\nm: {x: 1}\n", "l: !replace [c]\nm: !replace {y: 2}\n");
    EXPECT_EQ(json, nlohmann::json::parse(R"({"l": ["c"], "m": {"y": 2}})"));
}

TEST(Merge, ReportsRemovalsWithNothingToRemove) {
    std::vector<Diagnostic> d;
    merged("l: [a]\n", "l: [!remove zz]\nm: !remove\nn: [!remove q]\n", d);
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(d[0].str(),
              "overlay.yaml:1:5: !remove 'zz': no included file adds this item, so there is nothing to remove");
    EXPECT_EQ(d[1].str(), "overlay.yaml:2:4: !remove: no included file sets 'm', so there is nothing to remove");
    EXPECT_EQ(d[2].where, (Location{"overlay.yaml", 3, 5}));
}

TEST(Merge, ValueOfAnotherKindOverrides) {
    auto json = merged("a: [1]\n", "a: {x: 1}\n");
    EXPECT_EQ(json, nlohmann::json::parse(R"({"a": {"x": 1}})"));
}

TEST(Merge, OverridingValueKeepsItsOwnLocation) {
    Node base = yaml("a: 1\n", "base.yaml");
    std::vector<Diagnostic> d;
    merge_into(base, yaml("\n\na: 2\n", "overlay.yaml"), d);
    SourceMap sources;
    to_json(base, sources);
    EXPECT_EQ(sources.value("/a"_json_pointer), (Location{"overlay.yaml", 3, 4}));
    EXPECT_EQ(sources.key("/a"_json_pointer), (Location{"overlay.yaml", 3, 1}));
}

// The hashed merge keeps the order and the choices of a linear one: a removal takes the first of
// equal items (also one the same file just added), keys keep their first place, a removed key is gone.
TEST(Merge, HashedMergeKeepsOrderAndTakesTheFirstMatch) {
    EXPECT_EQ(merged("l: [a, b, a]\n", "l: [!remove a]\n")["l"], nlohmann::json({"b", "a"}));
    EXPECT_EQ(merged("l: [a]\n", "l: [x, !remove x, !remove a, y]\n")["l"], nlohmann::json({"y"}));
    auto json = merged("m: {a: 1, b: 2, c: 3}\n", "m: {d: 4, b: !remove, a: 9, e: 5}\n");
    EXPECT_EQ(json["m"], nlohmann::json({{"a", 9}, {"c", 3}, {"d", 4}, {"e", 5}}));
    std::vector<Diagnostic> d;
    merged("l: [a]\nm: {a: 1}\n", "l: [!remove a, !remove a]\nm: {b: !remove}\n", d);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_NE(d[0].message.find("!remove 'a': no included file adds this item"), std::string::npos);
    EXPECT_NE(d[1].message.find("no included file sets 'b'"), std::string::npos);
}

} // namespace
} // namespace imgbuild::recipe
