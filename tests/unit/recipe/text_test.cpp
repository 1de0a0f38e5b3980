#include "recipe/text.hpp"

#include <gtest/gtest.h>

namespace imgbuild::recipe {
namespace {

using Parts = std::vector<std::string>;

TEST(DottedParts, SplitsAtEveryDot) {
    EXPECT_EQ(dotted_parts("net.core.somaxconn"), (Parts{"net", "core", "somaxconn"}));
    EXPECT_EQ(dotted_parts("version"), (Parts{"version"}));
}

TEST(DottedParts, KeepsEmptyParts) {
    EXPECT_EQ(dotted_parts(""), (Parts{""}));
    EXPECT_EQ(dotted_parts("a..b"), (Parts{"a", "", "b"}));
    EXPECT_EQ(dotted_parts(".a."), (Parts{"", "a", ""}));
}

} // namespace
} // namespace imgbuild::recipe
