// Reading recipe files within bounds: regular files only, a size limit, UTF-8 text without NULs or
// control characters.

#include "recipe/input.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "recipe/limits.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::recipe {
namespace {

using test::TempDirTest;
using InputTest = TempDirTest;

std::string reason_for(const std::filesystem::path& path) {
    std::string reason;
    auto text = read_recipe_file(path, reason);
    EXPECT_FALSE(text.has_value()) << path;
    return reason;
}

TEST_F(InputTest, ReadsARegularFile) {
    auto path = dir.write("r.yaml", "name: x\n");
    std::string reason;
    EXPECT_EQ(read_recipe_file(path, reason), "name: x\n");
}

TEST_F(InputTest, RefusesWhatIsNotARegularFileWithoutReadingIt) {
    EXPECT_EQ(reason_for("/dev/zero"), "it is a character device, not a regular file (a recipe file must be one)");
    EXPECT_EQ(reason_for(dir.path()), "it is a directory");
    auto fifo = dir.path() / "fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    // Without a writer, opening a FIFO would block: the kind is known before it is opened.
    EXPECT_EQ(reason_for(fifo), "it is a FIFO (a pipe), not a regular file (a recipe file must be one)");
    EXPECT_EQ(reason_for(dir.path() / "missing"), "No such file or directory");
    // A link to /dev/zero is /dev/zero.
    std::filesystem::create_symlink("/dev/zero", dir.path() / "zero.yaml");
    EXPECT_NE(reason_for(dir.path() / "zero.yaml").find("character device"), std::string::npos);
}

TEST_F(InputTest, RefusesFilesLargerThanTheLimit) {
    std::string reason;
    auto fits = dir.write("fits.yaml", std::string(limits::file_bytes, '#'));
    EXPECT_TRUE(read_recipe_file(fits, reason).has_value()) << reason;
    auto large = dir.write("large.yaml", std::string(limits::file_bytes + 1, '#'));
    EXPECT_EQ(reason_for(large), "it is 1048577 bytes, more than the 1MiB a recipe file may have");
}

TEST(CheckText, AcceptsUtf8AndPlainWhitespace) {
    EXPECT_FALSE(check_text("name: x\r\n\tdescription: \"Grüße, 日本, 🚀\"\n", "r.yaml"));
    EXPECT_FALSE(check_text("\xef\xbb\xbfname: x\n", "r.yaml")); // a byte order mark
}

TEST(CheckText, NamesTheFirstBadByteByLineAndColumn) {
    auto bad = check_text("name: x\ndescription: caf\xe9 au lait\n", "r.yaml");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->str(), "r.yaml:2:17: the file is not UTF-8 text: the byte 0xe9 here is not part of a UTF-8 "
                          "character (save the file as UTF-8)");
    // Columns count bytes, as yaml-cpp's do: "é" before the bad byte is two.
    auto after_accent = check_text("d: \xc3\xa9\xff\n", "r.yaml");
    ASSERT_TRUE(after_accent);
    EXPECT_EQ(after_accent->where, (Location{"r.yaml", 1, 6}));
}

TEST(CheckText, RefusesEveryMalformedUtf8Form) {
    for (std::string_view bad : {
             "\x80",             // a continuation byte alone
             "\xc3",             // cut short at the end
             "\xc3(",            // cut short by ASCII
             "\xc0\xaf",         // overlong '/'
             "\xe0\x80\xaf",     // overlong, three bytes
             "\xed\xa0\x80",     // a UTF-16 surrogate
             "\xf4\x90\x80\x80", // beyond U+10FFFF
             "\xf8\x88\x80\x80", // five-byte forms do not exist
             "\xfe",
         }) {
        auto found = check_text(std::string("a: ") + std::string(bad), "r.yaml");
        ASSERT_TRUE(found) << testing::PrintToString(bad);
        EXPECT_EQ(found->where, (Location{"r.yaml", 1, 4})) << testing::PrintToString(bad);
    }
}

TEST(CheckText, RefusesNulAndControlCharacters) {
    auto nul = check_text(std::string("a: x\nb: \0\n", 10), "r.yaml");
    ASSERT_TRUE(nul);
    EXPECT_EQ(nul->where, (Location{"r.yaml", 2, 4}));
    EXPECT_NE(nul->message.find("NUL byte"), std::string::npos);
    auto escape = check_text("motd: \x1b[1m\n", "r.yaml");
    ASSERT_TRUE(escape);
    EXPECT_EQ(escape->str(), "r.yaml:1:7: the file holds the control character 0x1b here; YAML allows only printable "
                             "characters (write it as an escape in a double-quoted string, e.g. \"\\x1b\")");
    EXPECT_TRUE(check_text("a: \x7f\n", "r.yaml"));
}

} // namespace
} // namespace imgbuild::recipe
