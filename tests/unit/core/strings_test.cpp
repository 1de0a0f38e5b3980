#include "imgbuild/core/strings.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace imgbuild {
namespace {

TEST(EditDistance, CountsEditsAndTranspositions) {
    EXPECT_EQ(edit_distance("packages", "packages"), 0u);
    EXPECT_EQ(edit_distance("pakages", "packages"), 1u);
    EXPECT_EQ(edit_distance("pacakges", "packages"), 1u); // transposition
    EXPECT_EQ(edit_distance("", "abc"), 3u);
    EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(ClosestMatch, SuggestsOnlyLikelyTypos) {
    std::vector<std::string> keys{"name", "version", "packages", "modules-load", "arch"};
    EXPECT_EQ(closest_match("pakages", keys), "packages");
    EXPECT_EQ(closest_match("modules_load", keys), "modules-load");
    EXPECT_EQ(closest_match("Version", keys), "version");
    EXPECT_FALSE(closest_match("zzz", keys).has_value());
    EXPECT_FALSE(closest_match("size", keys).has_value());
}

TEST(DidYouMean, FormatsTheHint) {
    std::vector<std::string> values{"deb", "rpm"};
    EXPECT_EQ(did_you_mean("debb", values), " (did you mean 'deb'?)");
    EXPECT_EQ(did_you_mean("apk", values), "");
}

TEST(Join, JoinsWithSeparator) {
    std::vector<std::string> items{"a", "b", "c"};
    EXPECT_EQ(join(items, ", "), "a, b, c");
    EXPECT_EQ(join(std::vector<std::string>{}, ", "), "");
}

} // namespace
} // namespace imgbuild
