// Every broken recipe under tests/data/bad-recipes/ must make `imgbuild validate` exit 2 and print
// exactly the diagnostics in the case's `expected` file: the right FILE:LINE:COL and wording.
// A case is a directory: recipe.yaml (plus any files it includes), `expected`, and optionally `args`
// (extra arguments, one per line). IMGBUILD_TEST_ACCEPT=1 rewrites `expected` from the actual output.

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "support/command.hpp"

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;

fs::path cases_dir() { return fs::path(IMGBUILD_SOURCE_DIR) / "tests/data/bad-recipes"; }

std::vector<std::string> case_names() {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(cases_dir(), ec))
        if (entry.is_directory()) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

std::string slurp(const fs::path& path) {
    std::ifstream stream(path);
    std::ostringstream text;
    text << stream.rdbuf();
    return text.str();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream stream(text);
    for (std::string line; std::getline(stream, line);)
        if (!line.empty()) lines.push_back(line);
    return lines;
}

class BadRecipe : public ::testing::TestWithParam<std::string> {};

TEST_P(BadRecipe, ReportsExpectedErrors) {
    fs::path dir = cases_dir() / GetParam();
    std::vector<std::string> args{"validate", "recipe.yaml"};
    if (fs::exists(dir / "args"))
        for (const auto& line : lines_of(slurp(dir / "args"))) args.push_back(line);

    // A fixed apt configuration (the case's own apt/ directory, else an empty one) so the built-in
    // mirror variables do not depend on the machine.
    fs::path apt_dir = fs::exists(dir / "apt") ? dir / "apt" : dir / "no-apt-configuration";
    auto result = run_imgbuild(args, dir, {{"IMGBUILD_APT_DIR", apt_dir.string()}});

    if (std::getenv("IMGBUILD_TEST_ACCEPT")) std::ofstream(dir / "expected") << result.err;
    ASSERT_TRUE(fs::exists(dir / "expected")) << "no expected file; run with IMGBUILD_TEST_ACCEPT=1 and review it";

    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_EQ(result.out, "");
    auto expected = lines_of(slurp(dir / "expected"));
    auto actual = lines_of(result.err);
    EXPECT_EQ(actual, expected) << "stderr was:\n" << result.err;
    // Every diagnostic names a place: the recipe file (or an included one) with line and column, or a
    // command-line option.
    for (const auto& line : actual)
        EXPECT_TRUE(line.find(".yaml:") != std::string::npos || line.starts_with("--set")) << line;
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadRecipe, ::testing::ValuesIn(case_names()), [](const auto& param_info) {
    std::string name = param_info.param;
    std::replace_if(
        name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
    return name;
});

TEST(BadRecipeCorpus, HasAtLeastFortyCases) { EXPECT_GE(case_names().size(), 40u); }

} // namespace
} // namespace imgbuild::test
