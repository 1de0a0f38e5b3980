// Bounded input (src/recipe/limits.hpp): recipes built to exhaust memory or time — alias and variable
// bombs, huge maps and lists, deep include chains and nesting, values long enough to overflow a
// recursive regex, files that never end — are each refused at their place, or read, in well under the
// time a quadratic or exponential step would take.

#include <sys/stat.h>

#include <chrono>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/recipe/recipe.hpp"
#include "recipe/limits.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::recipe {
namespace {

using test::TempDirTest;

constexpr const char* head = "name: n\nformat: deb\nrepos: [{name: r, type: deb, url: 'file:///r', suite: s}]\n";

class LimitsTest : public TempDirTest {
protected:
    // The diagnostics of loading `path` (none when it loads), and how long it took.
    std::vector<std::string> errors(const std::filesystem::path& path) {
        auto start = std::chrono::steady_clock::now();
        std::vector<std::string> lines;
        try {
            load(path, LoadOptions{{}, dir.path() / "no-apt"});
        } catch (const RecipeError& e) {
            // Places relative to the test's directory, as a user in it would see them.
            std::string prefix = dir.path().string() + "/";
            for (const auto& d : e.diagnostics()) {
                std::string line = d.str();
                for (auto at = line.find(prefix); at != std::string::npos; at = line.find(prefix))
                    line.erase(at, prefix.size());
                lines.push_back(line);
            }
        }
        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return lines;
    }

    static bool has(const std::vector<std::string>& lines, std::string_view text) {
        return std::any_of(lines.begin(), lines.end(),
                           [&](const std::string& line) { return line.find(text) != std::string::npos; });
    }

    // Far below what the unbounded steps took (minutes, or memory until the machine gave out), with
    // room for a loaded machine and sanitizer builds.
    static constexpr double bound = 10.0;
    double seconds = 0;
};

TEST_F(LimitsTest, AnAliasBombIsRefusedAtTheAliasThatGoesTooFar) {
    // "Billion laughs": each level repeats the one before ten times.
    std::string text = std::string(head) + "packages: [a]\nvars:\n";
    text += "  l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int level = 1; level <= 9; ++level) {
        text += fmt::format("  l{0}: &l{0} [", level);
        for (int i = 0; i < 10; ++i) text += fmt::format("{}*l{}", i ? ", " : "", level - 1);
        text += "]\n";
    }
    auto lines = errors(dir.write("r.yaml", text));
    EXPECT_LT(seconds, bound);
    ASSERT_EQ(lines.size(), 1u) << testing::PrintToString(lines);
    // Levels 1-3 repeat 12,330 values; each alias of level 4 repeats 11,111 more: its eighth passes
    // 100,000.
    EXPECT_EQ(lines[0], "r.yaml:10:47: too much repetition by YAML aliases: with this alias they repeat more than "
                        "100000 values or 1024 KiB of text in all (a recipe's anchors and aliases are for sharing a "
                        "few values)");
}

TEST_F(LimitsTest, AliasesOfLongTextAreCountedByTheirBytes) {
    std::string text = std::string(head) + "packages: [a]\nvars:\n  big: &big '" + std::string(200'000, 'x') +
                       "'\ndescription: [*big, *big, *big, *big, *big, *big]\n";
    auto lines = errors(dir.write("r.yaml", text));
    EXPECT_TRUE(has(lines, "r.yaml:7:45: too much repetition by YAML aliases")) << testing::PrintToString(lines);
}

TEST_F(LimitsTest, AnAliasInsideItsOwnAnchorIsRefused) {
    // yaml-cpp's own node graph would hold a cycle here, and walking it would never end.
    auto lines = errors(dir.write("r.yaml", std::string(head) + "packages: &p [a, *p]\n"));
    EXPECT_EQ(lines, std::vector<std::string>{"r.yaml:4:18: this alias repeats a value that contains the alias itself, "
                                              "which would never end"});
}

TEST_F(LimitsTest, DeepNestingIsRefusedWhereItGoesTooDeep) {
    std::string text =
        std::string(head) + "packages: [a]\nvars: {x: " + std::string(1000, '[') + std::string(1000, ']') + "}\n";
    auto lines = errors(dir.write("r.yaml", text));
    // The root mapping, vars and 62 lists are 64 levels: the 63rd list is one too many.
    EXPECT_EQ(lines, std::vector<std::string>{"r.yaml:5:73: lists and mappings are nested more than 64 levels deep "
                                              "here"});
    // An alias does not get around it.
    std::string aliased = std::string(head) + "packages: [a]\nvars:\n  a: &a " + std::string(40, '[') +
                          std::string(40, ']') + "\n  b: " + std::string(30, '[') + "*a" + std::string(30, ']') + "\n";
    EXPECT_TRUE(has(errors(dir.write("aliased.yaml", aliased)), "nested more than 64 levels deep"));
}

TEST_F(LimitsTest, AVariableBombIsRefusedAtTheExpansionThatGoesTooFar) {
    std::string text = std::string(head) + "packages: [a]\nvars:\n  v0: 'xxxxxxxxxxxxxxxx'\n";
    for (int i = 1; i <= 40; ++i) text += fmt::format("  v{}: '${{v{}}}${{v{}}}'\n", i, i - 1, i - 1);
    text += "description: ${v40}\n";
    auto lines = errors(dir.write("r.yaml", text));
    EXPECT_LT(seconds, bound);
    // v16 is 16 * 2^16 bytes = 1 MiB; v17 is the first that would be longer.
    ASSERT_EQ(lines.size(), 1u) << testing::PrintToString(lines);
    EXPECT_EQ(lines[0], "r.yaml:23:15: expanding '${v16}' here makes the value longer than 1MiB (variables that repeat "
                        "each other double with each level)");
}

TEST_F(LimitsTest, AllExpansionsTogetherAreBounded) {
    // 512 KiB per value is allowed, but not nine of them.
    std::string text = std::string(head) + "packages: [a]\nvars:\n  v0: 'xxxxxxxxxxxxxxxx'\n";
    for (int i = 1; i <= 15; ++i) text += fmt::format("  v{}: '${{v{}}}${{v{}}}'\n", i, i - 1, i - 1);
    text += "files:\n";
    for (int i = 0; i < 12; ++i) text += fmt::format("  - {{path: /etc/f{}, content: '${{v15}}'}}\n", i);
    auto lines = errors(dir.write("r.yaml", text));
    EXPECT_LT(seconds, bound);
    ASSERT_EQ(lines.size(), 1u) << testing::PrintToString(lines);
    EXPECT_NE(lines[0].find("variables expand to more than 4MiB of text in all here"), std::string::npos) << lines[0];
}

TEST_F(LimitsTest, ABrokenVariableIsReportedOnceHoweverOftenItIsRepeated) {
    // Without remembering that v0 failed, v40 would expand it 2^40 times.
    std::string text = std::string(head) + "packages: [a]\nvars:\n  v0: '${nope}'\n";
    for (int i = 1; i <= 40; ++i) text += fmt::format("  v{}: '${{v{}}}${{v{}}}'\n", i, i - 1, i - 1);
    text += "description: ${v40}\n";
    auto lines = errors(dir.write("r.yaml", text));
    EXPECT_LT(seconds, bound);
    ASSERT_EQ(lines.size(), 1u) << testing::PrintToString(lines);
    EXPECT_NE(lines[0].find("r.yaml:6:8: undefined variable 'nope'"), std::string::npos) << lines[0];
}

// Short keys, so that one file holds as many as it can: a duplicate check that compares each key
// with every earlier one makes 5·10⁹ comparisons here (a minute), a hashed one 105,000.
std::string short_key(int i) {
    std::string key = "k";
    for (; i > 0 || key.size() == 1; i /= 36) key += "0123456789abcdefghijklmnopqrstuvwxyz"[i % 36];
    return key;
}

TEST_F(LimitsTest, ALargeMapIsReadInLinearTime) {
    std::string text = std::string(head) + "packages: [a]\nvars: {";
    for (int i = 0; i < 105'000; ++i) text += short_key(i) + ": 1, ";
    text += short_key(7) + ": 2}\n";
    ASSERT_LE(text.size(), limits::file_bytes);
    auto lines = errors(dir.write("r.yaml", text));
    EXPECT_LT(seconds, bound);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_TRUE(lines[0].starts_with("r.yaml:5:")) << lines[0];
    EXPECT_TRUE(lines[0].ends_with(": duplicate key '" + short_key(7) + "' (first written at line 5)")) << lines[0];
}

// Merging n keys into n keys, and n removals from a list of n items, each in n steps: four files of
// 40,000 sysctl keys and a list of 40,000 packages, half of it removed, took minutes when each step
// searched the whole mapping or list.
TEST_F(LimitsTest, LargeMergesAndRemovalsAreLinear) {
    std::string recipe = std::string(head) + "include: p3.yaml\npackages:\n  - a\n";
    for (int file = 0; file < 3; ++file) {
        std::string profile = "sysctl:\n";
        for (int i = 0; i < 40'000; ++i) profile += fmt::format("  net.k.{}: {}\n", short_key(file * 20'000 + i), file);
        dir.write(fmt::format("p{}.yaml", file), profile);
    }
    std::string packages = "packages:\n";
    for (int i = 0; i < 40'000; ++i) packages += fmt::format("  - p{}\n", i);
    dir.write("packages.yaml", packages);
    for (int i = 0; i < 20'000; ++i) recipe += fmt::format("  - !remove p{}\n", 2 * i);
    std::string overrides = "include: [packages.yaml, p0.yaml, p1.yaml, p2.yaml]\nsysctl:\n";
    for (int i = 0; i < 40'000; ++i)
        overrides += fmt::format("  net.k.{}: {}\n", short_key(i), i % 2 ? "9" : "!remove");
    dir.write("p3.yaml", overrides);
    auto path = dir.write("r.yaml", recipe);
    auto start = std::chrono::steady_clock::now();
    auto loaded = load(path, LoadOptions{{}, dir.path() / "no-apt"});
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), bound);
    EXPECT_EQ(loaded.json()["packages"].size(), 20'001u);
    EXPECT_EQ(loaded.json()["packages"][0], "p1");
    // Keys 0-79,999 from the profiles, the even ones below 40,000 removed.
    EXPECT_EQ(loaded.json()["sysctl"].size(), 60'000u);
    EXPECT_EQ(loaded.json()["sysctl"]["net.k." + short_key(1)], 9);
    EXPECT_EQ(loaded.json()["sysctl"]["net.k." + short_key(20'001)], 9);
    EXPECT_EQ(loaded.json()["sysctl"]["net.k." + short_key(70'000)], 2);
    EXPECT_FALSE(loaded.json()["sysctl"].contains("net.k." + short_key(2)));
}

TEST_F(LimitsTest, ValuesLongEnoughToOverflowARecursiveRegexAreReportedNotCrashedOn) {
    // libstdc++'s std::regex recursed once per character: 100,000 characters overflowed the stack.
    std::string digits(100'000, '7'), name(100'000, 'a');
    auto lines = errors(dir.write("r.yaml", "name: " + name +
                                                "\nformat: deb\nrepos: [{name: r, type: deb, url: 'file:///r', "
                                                "suite: s}]\npackages: [" +
                                                digits + ", x" + name + "]\nsysctl: {net.core.x: " + digits + "}\n"));
    EXPECT_TRUE(has(lines, "r.yaml:1:7: 'name' is 100000 characters long; a value of its kind may have 4096 at most"))
        << testing::PrintToString(lines);
    EXPECT_TRUE(has(lines, "r.yaml:4:100014: 'packages[1]' is 100001 characters long"))
        << testing::PrintToString(lines);
    EXPECT_TRUE(has(lines, "beyond 64 bits")) << testing::PrintToString(lines);
}

TEST_F(LimitsTest, IncludeChainsAreBoundedInDepthAndSize) {
    for (int i = 0; i < 20; ++i) dir.write(fmt::format("f{}.yaml", i), fmt::format("include: f{}.yaml\n", i + 1));
    dir.write("f20.yaml", "packages: [a]\n");
    auto lines = errors(dir.write("r.yaml", std::string(head) + "packages: [a]\ninclude: f0.yaml\n"));
    EXPECT_EQ(lines, std::vector<std::string>{"f14.yaml:1:10: cannot include 'f15.yaml': include: chains may be 16 "
                                              "files deep at most, and this one is deeper"});

    // Five files of 900 KB each: more than 4 MiB in all.
    std::string includes = "include:\n";
    for (int i = 0; i < 5; ++i) {
        dir.write(fmt::format("big{}.yaml", i), "packages: [a]\n" + std::string(900'000, '#') + "\n");
        includes += fmt::format("  - big{}.yaml\n", i);
    }
    auto big = errors(dir.write("big.yaml", std::string(head) + includes));
    EXPECT_EQ(big, std::vector<std::string>{"big.yaml:9:5: cannot include 'big4.yaml': the recipe's files would hold "
                                            "more than 4MiB in all"});
}

TEST_F(LimitsTest, IncludesOfWhatIsNotARegularFileAreRefusedAtTheirPlace) {
    ASSERT_EQ(::mkfifo((dir.path() / "fifo.yaml").c_str(), 0600), 0);
    dir.write("sub/keep", "");
    auto lines =
        errors(dir.write("r.yaml", std::string(head) + "packages: [a]\ninclude: [/dev/zero, fifo.yaml, sub]\n"));
    EXPECT_LT(seconds, bound);
    EXPECT_EQ(lines, (std::vector<std::string>{
                         "r.yaml:5:11: cannot include '/dev/zero': it is a character device, not a regular file (a "
                         "recipe file must be one)",
                         "r.yaml:5:22: cannot include 'fifo.yaml': it is a FIFO (a pipe), not a regular file (a recipe "
                         "file must be one)",
                         "r.yaml:5:33: cannot include 'sub': it is a directory"}));
}

TEST_F(LimitsTest, TextThatIsNotUtf8IsPlacedInTheFileThatHasIt) {
    dir.write("p.yaml", "sysctl:\n  net.core.somaxconn: \"4096\xff\"\n");
    auto lines = errors(dir.write("r.yaml", std::string(head) + "packages: [a]\ninclude: p.yaml\n"));
    EXPECT_EQ(lines, std::vector<std::string>{"p.yaml:2:28: the file is not UTF-8 text: the byte 0xff here is not part "
                                              "of a UTF-8 character (save the file as UTF-8)"});
}

TEST_F(LimitsTest, ANulInAnyStringIsRefused) {
    auto lines = errors(dir.write(
        "r.yaml", std::string(head) + "packages: [a]\nsysctl: {net.core.somaxconn: \"4096\\0\"}\n\"k\\0ey\": 1\n"));
    EXPECT_EQ(lines, (std::vector<std::string>{
                         "r.yaml:5:30: the string holds a NUL character (\"\\0\"), which no value may hold: the files "
                         "and command lines it ends up in cannot carry one",
                         "r.yaml:6:1: the string holds a NUL character (\"\\0\"), which no value may hold: the files "
                         "and command lines it ends up in cannot carry one"}));
}

} // namespace
} // namespace imgbuild::recipe
