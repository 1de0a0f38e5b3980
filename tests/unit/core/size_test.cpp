#include "imgbuild/core/size.hpp"

#include <gtest/gtest.h>

namespace imgbuild {
namespace {

TEST(ParseSize, BinaryAndDecimalUnits) {
    EXPECT_EQ(parse_size("4GiB"), 4ull << 30);
    EXPECT_EQ(parse_size("512MiB"), 512ull << 20);
    EXPECT_EQ(parse_size("1.5GiB"), 3ull << 29);
    EXPECT_EQ(parse_size("2G"), 2ull << 30);
    EXPECT_EQ(parse_size("10GB"), 10'000'000'000ull);
    EXPECT_EQ(parse_size("4096"), 4096u);
    EXPECT_EQ(parse_size("4096B"), 4096u);
    EXPECT_EQ(parse_size("1 TiB"), 1ull << 40);
}

TEST(ParseSize, RejectsWhatIsNotASize) {
    for (const char* text : {"", "GiB", "4 potatoes", "4GB4", "-1GiB", "1.5B", "4gib", "0x10", "4 GiB extra"})
        EXPECT_FALSE(parse_size(text).has_value()) << text;
}

TEST(FormatSize, ShortestForm) {
    EXPECT_EQ(format_size(4ull << 30), "4GiB");
    EXPECT_EQ(format_size(3ull << 29), "1.5GiB");
    EXPECT_EQ(format_size(300), "300B");
    EXPECT_EQ(format_size(1536), "1.5KiB");
}

} // namespace
} // namespace imgbuild
