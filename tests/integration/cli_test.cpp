// The command line contract (DESIGN.md §2, docs/cli.md): help, version, exit codes, output streams,
// log formats. Runs the real binary.

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/command.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::test {
namespace {

constexpr const char* valid =
    "name: n\nformat: deb\nrepos: [{name: r, type: deb, url: 'file:///r', suite: s}]\npackages: [a]\n";

TEST(Cli, HelpExplainsEveryCommandAndTheExitCodes) {
    auto result = run_imgbuild({"--help"});
    EXPECT_EQ(result.exit_code, 0);
    for (const char* text : {"validate", "show", "schema", "--set", "--log-format", "-v,--verbose", "-q,--quiet",
                             "Exit codes: 0 success, 1 the build failed, 2 bad usage or a bad recipe"})
        EXPECT_NE(result.out.find(text), std::string::npos) << text;
    auto sub = run_imgbuild({"validate", "--help"});
    EXPECT_EQ(sub.exit_code, 0);
    EXPECT_NE(sub.out.find("RECIPE"), std::string::npos);
}

TEST(Cli, EveryCommandIsDocumented) {
    auto help = run_imgbuild({"--help"}).out;
    std::ifstream file(std::string(IMGBUILD_SOURCE_DIR) + "/docs/cli.md");
    std::stringstream docs;
    docs << file.rdbuf();
    auto start = help.find("Subcommands:");
    ASSERT_NE(start, std::string::npos);
    std::istringstream lines(help.substr(start));
    std::string line;
    std::getline(lines, line);
    int commands = 0;
    while (std::getline(lines, line) && line.starts_with("  ")) {
        std::string name = line.substr(2, line.find(' ', 2) - 2);
        EXPECT_NE(docs.str().find("### `imgbuild " + name), std::string::npos) << name << " is not in docs/cli.md";
        ++commands;
    }
    EXPECT_GE(commands, 3);
}

TEST(Cli, VersionNamesTheToolAndRevision) {
    auto result = run_imgbuild({"--version"});
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_TRUE(result.out.starts_with("imgbuild 0.")) << result.out;
    EXPECT_NE(result.out.find("(git "), std::string::npos);
}

TEST(Cli, BadUsageExitsWithTwo) {
    for (auto args : std::vector<std::vector<std::string>>{
             {}, {"frobnicate"}, {"validate"}, {"show", "--nope", "x"}, {"--log-format", "xml", "schema"}}) {
        auto result = run_imgbuild(args);
        EXPECT_EQ(result.exit_code, 2) << result.err;
        EXPECT_NE(result.err.find("imgbuild: error: "), std::string::npos) << result.err;
    }
}

// `imgbuild test` of something that is not an image of a build: exit 2 and what it needs, before
// anything boots.
TEST(Cli, TestRefusesWhatIsNotABuild) {
    TempDir dir;
    auto missing =
        run_imgbuild({"--cache-dir", (dir.path() / "cache").string(), "test", (dir.path() / "nope").string()});
    EXPECT_EQ(missing.exit_code, 2) << missing.err;
    EXPECT_NE(missing.err.find("does not exist"), std::string::npos) << missing.err;

    auto image = dir.write("loose.qcow2", "not a disk");
    auto loose = run_imgbuild({"--cache-dir", (dir.path() / "cache").string(), "test", image.string()});
    EXPECT_EQ(loose.exit_code, 2) << loose.err;
    EXPECT_NE(loose.err.find("no manifest.json beside it"), std::string::npos) << loose.err;

    dir.write("build/manifest.json",
              R"({"commit": "abc", "boot": ["bios"], "artifacts": {"qcow2": {"file": "x.qcow2"}}})");
    dir.write("build/x.qcow2", "");
    auto firmware = run_imgbuild(
        {"--cache-dir", (dir.path() / "cache").string(), "test", (dir.path() / "build").string(), "--boot", "uefi"});
    EXPECT_EQ(firmware.exit_code, 2) << firmware.err;
    EXPECT_NE(firmware.err.find("not made to boot with uefi"), std::string::npos) << firmware.err;

    auto upgrade = run_imgbuild({"--cache-dir", (dir.path() / "cache").string(), "test",
                                 (dir.path() / "build").string(), "--upgrade-to", "next"});
    EXPECT_EQ(upgrade.exit_code, 2) << upgrade.err;
    EXPECT_NE(upgrade.err.find("--upgrade-to needs the repository"), std::string::npos) << upgrade.err;
}

TEST(Cli, ValidateExitsZeroOrTwoAndReportsOnStderr) {
    TempDir dir;
    auto good = dir.write("good.yaml", valid);
    auto bad = dir.write("bad.yaml", std::string(valid) + "pakages: [x]\n");
    auto ok = run_imgbuild({"validate", good.string()});
    EXPECT_EQ(ok.exit_code, 0);
    EXPECT_EQ(ok.out, "");
    EXPECT_NE(ok.err.find("valid recipe 'n'"), std::string::npos) << ok.err;
    EXPECT_EQ(run_imgbuild({"-q", "validate", good.string()}).err, "");

    auto failed = run_imgbuild({"validate", "bad.yaml", "good.yaml"}, dir.path());
    EXPECT_EQ(failed.exit_code, 2);
    EXPECT_NE(failed.err.find("bad.yaml:5:1: unknown key 'pakages' (did you mean 'packages'?)\n"), std::string::npos)
        << failed.err;
    EXPECT_NE(failed.err.find("good.yaml: valid recipe"), std::string::npos) << "validates every file given";
}

TEST(Cli, GlobalOptionsWorkAfterTheCommand) {
    TempDir dir;
    auto good = dir.write("good.yaml", valid);
    auto result = run_imgbuild({"show", good.string(), "--set", "version=7", "-q"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(nlohmann::json::parse(result.out).at("version"), "7");
}

TEST(Cli, JsonLogFormatWritesOneObjectPerLine) {
    TempDir dir;
    auto bad = dir.write("bad.yaml", std::string(valid) + "pakages: [x]\nformat: debb\n");
    auto result = run_imgbuild({"--log-format", "json", "validate", "bad.yaml"}, dir.path());
    EXPECT_EQ(result.exit_code, 2);
    std::istringstream lines(result.err);
    int count = 0;
    for (std::string line; std::getline(lines, line); ++count) {
        auto object = nlohmann::json::parse(line);
        EXPECT_EQ(object.at("level"), "error");
        EXPECT_EQ(object.at("file"), "bad.yaml");
        EXPECT_TRUE(object.at("line").is_number());
        EXPECT_TRUE(object.at("column").is_number());
        EXPECT_TRUE(object.contains("time"));
        EXPECT_FALSE(object.at("msg").get<std::string>().empty());
    }
    EXPECT_EQ(count, 2) << result.err;
}

TEST(Cli, SchemaPrintsTheRepositorysSchema) {
    auto result = run_imgbuild({"schema"});
    EXPECT_EQ(result.exit_code, 0);
    std::ifstream file(std::string(IMGBUILD_SOURCE_DIR) + "/schema/recipe.schema.json");
    EXPECT_EQ(nlohmann::json::parse(result.out), nlohmann::json::parse(file));
}

TEST(Cli, ShowPrintsTheMergedRecipeAsJson) {
    TempDir dir;
    dir.write("p.yaml", "packages: [from-profile]\n");
    auto path = dir.write("r.yaml", std::string("include: p.yaml\n") + valid);
    auto result = run_imgbuild({"show", path.string()});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    auto json = nlohmann::json::parse(result.out);
    EXPECT_EQ(json.at("packages"), nlohmann::json({"from-profile", "a"}));
    EXPECT_EQ(result.err, "");
}

TEST(Cli, ShowOfABadRecipePrintsNothingOnStdout) {
    TempDir dir;
    auto path = dir.write("r.yaml", "name: [\n");
    auto result = run_imgbuild({"show", path.string()});
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_EQ(result.out, "");
    EXPECT_NE(result.err.find("invalid YAML"), std::string::npos);
}

} // namespace
} // namespace imgbuild::test
