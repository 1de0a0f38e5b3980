// The command line contract (docs/design.md §2, docs/cli.md): help, version, exit codes, output streams,
// log formats. Runs the real binary.

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
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

// What is not a regular file is refused at once, by name, with exit 2: it would never end (/dev/zero,
// `yes`) or block (a FIFO without a writer). Each of these filled memory or hung before.
TEST(Cli, RecipesThatAreNotRegularFilesExitTwoAtOnce) {
    TempDir dir;
    auto fifo = dir.path() / "fifo.yaml";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    std::string cache = (dir.path() / "cache").string();
    struct Case {
        std::vector<std::string> args;
        std::string says;
    };
    for (const auto& [args, says] : std::vector<Case>{
             {{"validate", "/dev/zero"},
              "/dev/zero: cannot read the recipe: it is a character device, not a regular file"},
             {{"--cache-dir", cache, "build", "/dev/zero", "-o", (dir.path() / "out").string()},
              "/dev/zero: cannot read the recipe: it is a character device"},
             {{"show", fifo.string()}, "cannot read the recipe: it is a FIFO (a pipe), not a regular file"},
             {{"validate", dir.path().string()}, "cannot read the recipe: it is a directory"},
         }) {
        auto start = std::chrono::steady_clock::now();
        auto result = run_imgbuild(args);
        EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
        EXPECT_EQ(result.exit_code, 2) << result.err;
        EXPECT_NE(result.err.find(says), std::string::npos) << result.err;
        EXPECT_EQ(result.err.find("internal error"), std::string::npos) << result.err;
    }
    // A process substitution is a pipe too.
    auto yes = run_command({"bash", "-c", std::string("'") + IMGBUILD_BINARY + "' validate <(yes)"});
    EXPECT_EQ(yes.exit_code, 2) << yes.err;
    EXPECT_NE(yes.err.find("it is a FIFO (a pipe), not a regular file"), std::string::npos) << yes.err;
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "out"));
}

// A file copied into the image from outside the recipe's directory is named, with its place; the
// shipped recipes keep theirs under recipes/ and draw no warning.
TEST(Cli, FilesFromOutsideTheRecipesDirectoryAreWarnedAbout) {
    TempDir dir;
    auto secret = dir.write("host/secret", "x");
    auto path =
        dir.write("recipes/r.yaml", std::string(valid) + "files:\n  - {path: /etc/x, source: ../host/secret}\n");
    auto result = run_imgbuild({"validate", path.string()});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_NE(result.err.find("r.yaml:6:28: the file '" + secret.string() + "' is outside the recipe's directory " +
                              std::filesystem::canonical(dir.path() / "recipes").string() +
                              ": it is copied into the image as it is on this host"),
              std::string::npos)
        << result.err;

    // A fixed apt configuration: debian11-node.yaml's mirror comes from it.
    dir.write("apt/sources.list", "deb http://mirror.invalid/debian bookworm main\n"
                                  "deb http://mirror.invalid/debian-security bookworm-security main\n");
    auto shipped = run_imgbuild({"validate", std::string(IMGBUILD_SOURCE_DIR) + "/recipes/debian11-node.yaml",
                                 std::string(IMGBUILD_SOURCE_DIR) + "/recipes/alinux3-node.yaml"},
                                {}, {{"IMGBUILD_APT_DIR", (dir.path() / "apt").string()}});
    EXPECT_EQ(shipped.exit_code, 0) << shipped.err;
    EXPECT_EQ(shipped.err.find("warning"), std::string::npos) << shipped.err;
    EXPECT_EQ(shipped.err.find("outside the recipe's directory"), std::string::npos) << shipped.err;
}

} // namespace
} // namespace imgbuild::test
