#include "resolve/metadata.hpp"

#include <gtest/gtest.h>

namespace imgbuild::resolve {
namespace {

TEST(DebianExtras, EssentialPriorityAndSizes) {
    auto extras =
        parse_debian_extras("Package: dash\nEssential: yes\nPriority: required\nSize: 100\n\n"
                            "Package: vim\nPriority: optional\nSize: 2000\n\nPackage: bash\nPriority: required\n");
    EXPECT_EQ(extras.essential, (std::set<std::string>{"dash"}));
    EXPECT_EQ(extras.priority, (std::map<std::string, std::string>{{"bash", "required"}, {"dash", "required"}}));
    ASSERT_EQ(extras.sizes.size(), 3u);
    EXPECT_EQ(extras.sizes[1].first, "vim");
    EXPECT_EQ(extras.sizes[1].second, 2000u);
    EXPECT_EQ(extras.sizes[2].second, 0u);
}

TEST(MetadataExpire, DurationsInDnfsForms) {
    EXPECT_EQ(parse_duration("3600"), 3600);
    EXPECT_EQ(parse_duration("90s"), 90);
    EXPECT_EQ(parse_duration("30m"), 1800);
    EXPECT_EQ(parse_duration("12h"), 43200);
    EXPECT_EQ(parse_duration("7d"), 604800);
    for (const char* bad : {"", "d", "7w", "-1", "1.5h", "7 d", "never", "1234567890123d"})
        EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
}

} // namespace
} // namespace imgbuild::resolve
