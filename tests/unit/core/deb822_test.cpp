#include "imgbuild/core/deb822.hpp"

#include <gtest/gtest.h>

namespace imgbuild::deb822 {
namespace {

TEST(Deb822, ParagraphsFieldsAndContinuations) {
    std::string text = "Origin: Debian\nDate: Sat, 10 Jun 2023 09:43:47 UTC\nSHA256:\n abc 10 main/Packages\n def 20 "
                       "main/Packages.xz\n"
                       "\n\n# comment\nPackage: dash\nESSENTIAL: yes\n";
    std::vector<Paragraph> paragraphs;
    for_each_paragraph(text, [&](const Paragraph& p) { paragraphs.push_back(p); });
    ASSERT_EQ(paragraphs.size(), 2u);
    EXPECT_EQ(field(paragraphs[0], "origin"), "Debian");
    auto sums = lines(field(paragraphs[0], "SHA256"));
    ASSERT_EQ(sums.size(), 2u);
    EXPECT_EQ(words(sums[1]), (std::vector<std::string_view>{"def", "20", "main/Packages.xz"}));
    EXPECT_EQ(field(paragraphs[1], "Essential"), "yes"); // names compare without case
    EXPECT_EQ(field(paragraphs[1], "Priority"), "");
}

TEST(Deb822, CrLfAndNoFinalNewline) {
    std::vector<Paragraph> paragraphs;
    for_each_paragraph("A: 1\r\nB: 2", [&](const Paragraph& p) { paragraphs.push_back(p); });
    ASSERT_EQ(paragraphs.size(), 1u);
    EXPECT_EQ(field(paragraphs[0], "A"), "1");
    EXPECT_EQ(field(paragraphs[0], "B"), "2");
}

} // namespace
} // namespace imgbuild::deb822
