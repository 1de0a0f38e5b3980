#include "recipe/schema.hpp"

#include <gtest/gtest.h>

#include "recipe/yaml_reader.hpp"

namespace imgbuild::recipe {
namespace {

std::vector<Diagnostic> validate(std::string_view text, bool fragment = false) {
    std::vector<Diagnostic> d;
    auto node = read_yaml(text, "s.yaml", d);
    EXPECT_TRUE(node && d.empty());
    SourceMap sources;
    auto json = to_json(*node, sources);
    validate_schema(json, sources, fragment, d);
    sort_unique(d);
    return d;
}

constexpr const char* minimal =
    "name: n\nformat: deb\nrepos: [{name: r, type: deb, url: 'file:///r', suite: s}]\npackages: [a]\n";

TEST(Schema, IsValidDraft07WithDescriptions) {
    const auto& schema = schema_document();
    EXPECT_EQ(schema.at("$schema"), "http://json-schema.org/draft-07/schema#");
    for (const auto& [key, property] : schema.at("properties").items())
        EXPECT_TRUE(property.contains("description")) << key << " has no description";
}

TEST(Schema, AcceptsAMinimalRecipe) { EXPECT_TRUE(validate(minimal).empty()); }

TEST(Schema, ReportsEveryUnknownKeyAtItsKeyWithSuggestions) {
    auto d = validate(std::string(minimal) + "pakages: [x]\nimage: {sise: 4GiB}\nsize: 1\nzzz: 1\n");
    ASSERT_EQ(d.size(), 4u);
    EXPECT_EQ(d[0].str(), "s.yaml:5:1: unknown key 'pakages' (did you mean 'packages'?)");
    EXPECT_EQ(d[1].str(), "s.yaml:6:9: unknown key 'sise' in 'image' (did you mean 'size'?)");
    EXPECT_EQ(d[2].str(), "s.yaml:7:1: unknown key 'size' (did you mean 'image.size'?)");
    EXPECT_NE(d[3].message.find("unknown key 'zzz' (known keys: "), std::string::npos) << d[3].message;
}

TEST(Schema, NamesTheExpectationAndTheActualValue) {
    auto d = validate(std::string(minimal) + "image: {formats: qcow2, root-fs: btrfs}\nsysctl: [a]\n");
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(d[0].str(), "s.yaml:5:18: 'image.formats' must be a list, not 'qcow2'");
    EXPECT_EQ(d[1].str(), "s.yaml:5:34: 'image.root-fs' must be one of ext4, xfs, not 'btrfs'");
    EXPECT_EQ(d[2].str(), "s.yaml:6:9: 'sysctl' must be a mapping, not a list");
}

TEST(Schema, SuggestsEnumValuesAndQuotingForNumbers) {
    auto d = validate("name: n\nformat: debb\nrepos: [{name: r, type: deb, url: 'file:///r'}]\npackages: [a]\n"
                      "files: [{path: /etc/x, content: '', mode: 0644}]\n");
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].str(), "s.yaml:2:9: 'format' must be one of deb, rpm, not 'debb' (did you mean 'deb'?)");
    EXPECT_EQ(d[1].str(), "s.yaml:5:43: 'files[0].mode' must be an octal mode in quotes such as \"0644\", not 0644, "
                          "which YAML reads as the integer 644 (write it in quotes: \"0644\")");
}

TEST(Schema, RequiredKeysOfRecipesButNotOfProfiles) {
    auto d = validate("name: n\nsysctl: {vm.swappiness: 10}\n");
    ASSERT_EQ(d.size(), 3u);
    EXPECT_NE(d[0].message.find("missing required key"), std::string::npos);
    EXPECT_TRUE(validate("sysctl: {vm.swappiness: 10}\n", true).empty());
    auto repo = validate("repos: [{name: r, type: deb}]\n", true);
    ASSERT_EQ(repo.size(), 1u);
    EXPECT_EQ(repo[0].str(), "s.yaml:1:9: 'repos[0]' is missing the required key 'url'");
}

TEST(Schema, ReportsEmptyListsAndOutOfRangeNumbers) {
    auto d = validate(
        "name: n\nformat: deb\nrepos: [{name: r, type: deb, url: 'file:///r', priority: 5000}]\npackages: []\n");
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].str(), "s.yaml:3:58: 'repos[0].priority' must be between 1 and 1000, not 5000");
    EXPECT_EQ(d[1].str(), "s.yaml:4:11: 'packages' must not be empty");
}

TEST(DisplayPath, ReadsLikeTheRecipe) {
    EXPECT_EQ(display_path("/repos/0/url"_json_pointer), "repos[0].url");
    EXPECT_EQ(display_path("/sysctl/net.core.somaxconn"_json_pointer), "sysctl[\"net.core.somaxconn\"]");
    EXPECT_EQ(display_path("/image/size"_json_pointer), "image.size");
}

} // namespace
} // namespace imgbuild::recipe
