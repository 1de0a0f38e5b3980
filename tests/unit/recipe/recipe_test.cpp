// recipe::load end to end on files written per test: include chains, paths, --set, profiles.

#include "imgbuild/recipe/recipe.hpp"

#include <gtest/gtest.h>

#include "imgbuild/core/error.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::recipe {
namespace {

using test::TempDirTest;
using json = nlohmann::json;

class LoadTest : public TempDirTest {
protected:
    LoadOptions options(std::vector<std::string> set = {}) {
        dir.write("apt/sources.list", "deb http://mirror.example/debian bookworm main\n"
                                      "deb http://mirror.example/debian-security bookworm-security main\n");
        return LoadOptions{std::move(set), dir.path() / "apt"};
    }

    std::vector<std::string> errors(const std::filesystem::path& path, std::vector<std::string> set = {}) {
        try {
            load(path, options(std::move(set)));
        } catch (const RecipeError& e) {
            std::vector<std::string> lines;
            for (const auto& d : e.diagnostics()) lines.push_back(d.str());
            return lines;
        }
        return {};
    }

    static constexpr const char* head = "name: n\nformat: deb\npackages: [a]\n";
    static constexpr const char* repo = "repos: [{name: r, type: deb, url: '${debian_mirror}', suite: bullseye}]\n";
};

TEST_F(LoadTest, MergesIncludesDepthFirstInOrder) {
    dir.write("p/base.yaml", "packages: [base]\nsysctl: {vm.swappiness: 1}\n");
    dir.write("p/one.yaml", "include: base.yaml\npackages: [one]\nsysctl: {vm.swappiness: 2}\n");
    dir.write("p/two.yaml", "include: [base.yaml]\npackages: [two]\n");
    auto path = dir.write("r.yaml", std::string("include: [p/one.yaml, p/two.yaml]\n") + head + repo);
    auto recipe = load(path, options());
    // base is merged once (first reached through one.yaml), so two.yaml does not reset its value.
    EXPECT_EQ(recipe.json().at("packages"), json({"base", "one", "two", "a"}));
    EXPECT_EQ(recipe.json().at("sysctl"), json({{"vm.swappiness", 2}}));
    ASSERT_EQ(recipe.files().size(), 4u);
    EXPECT_EQ(recipe.files()[0].filename(), "r.yaml");
    EXPECT_FALSE(recipe.is_profile());
    EXPECT_FALSE(recipe.json().contains("include"));
}

TEST_F(LoadTest, AccessorsGiveTheValuesOrTheirOneDefault) {
    auto plain = load(dir.write("plain.yaml", std::string(head) + repo), options());
    EXPECT_EQ(plain.name(), "n");
    EXPECT_EQ(plain.arch(), "x86_64");
    EXPECT_EQ(plain.version_pattern(), "{date}.{n}");
    EXPECT_TRUE(plain.docs());
    EXPECT_FALSE(plain.has_kernel());
    EXPECT_EQ(plain.ref(), "imgbuild/n/x86_64");
    auto given =
        load(dir.write("given.yaml", std::string(head) + repo +
                                         "version: '7.{n}'\ndocs: false\nkernel: {package: linux-image-amd64}\n"
                                         "ostree: {ref: node/stable}\n"),
             options());
    EXPECT_EQ(given.version_pattern(), "7.{n}");
    EXPECT_FALSE(given.docs());
    EXPECT_TRUE(given.has_kernel());
    EXPECT_EQ(given.ref(), "node/stable");
    auto profile = load(dir.write("profile.yaml", "sysctl: {vm.swappiness: 1}\n"), options());
    EXPECT_TRUE(profile.is_profile());
    EXPECT_EQ(profile.name(), "");
}

TEST_F(LoadTest, ResolvesPathsAgainstTheFileThatWritesThem) {
    dir.write("profiles/files/a.conf", "x");
    dir.write("profiles/overlay/etc/x", "x");
    dir.write("profiles/p.yaml", "files: [{path: /etc/a.conf, source: files/a.conf}]\noverlays: [overlay]\n");
    auto path = dir.write("r.yaml", std::string("include: profiles/p.yaml\n") + head + repo);
    auto recipe = load(path, options());
    EXPECT_EQ(recipe.json().at("files")[0].at("source"), (dir.path() / "profiles/files/a.conf").string());
    EXPECT_EQ(recipe.json().at("overlays")[0], (dir.path() / "profiles/overlay").string());
}

TEST_F(LoadTest, BuiltinMirrorVariablesComeFromTheHostsAptSources) {
    auto path = dir.write("r.yaml", std::string(head) + repo);
    auto recipe = load(path, options());
    EXPECT_EQ(recipe.json().at("repos")[0].at("url"), "http://mirror.example/debian");
    auto no_apt = LoadOptions{{}, dir.path() / "nowhere"};
    try {
        load(path, no_apt);
        FAIL() << "expected an error";
    } catch (const RecipeError& e) {
        ASSERT_EQ(e.diagnostics().size(), 1u);
        EXPECT_NE(e.diagnostics()[0].message.find("variable 'debian_mirror' has no value"), std::string::npos);
    }
}

TEST_F(LoadTest, SetOverridesVariablesAndRecipeKeys) {
    auto path = dir.write("r.yaml", std::string(head) + repo + "vars: {tag: a}\ndescription: '${tag}'\nversion: '1'\n");
    auto recipe = load(path, options({"tag=b", "version=2.{n}", "image.size=8GiB", "image.formats=[raw]",
                                      "sysctl.net.core.somaxconn=4096", "debian_mirror=file:///m"}));
    const auto& merged = recipe.json();
    EXPECT_EQ(merged.at("description"), "b");
    EXPECT_EQ(merged.at("vars").at("tag"), "b");
    EXPECT_EQ(merged.at("version"), "2.{n}");
    EXPECT_EQ(merged.at("image").at("size"), "8GiB");
    EXPECT_EQ(merged.at("image").at("formats"), json::array({"raw"}));
    EXPECT_EQ(merged.at("sysctl").at("net.core.somaxconn"), 4096);
    EXPECT_EQ(merged.at("repos")[0].at("url"), "file:///m");
}

TEST_F(LoadTest, SetReportsNamesThatMatchNothing) {
    auto path = dir.write("r.yaml", std::string(head) + repo);
    EXPECT_EQ(errors(path, {"pakages=x", "noequals"}),
              (std::vector<std::string>{"--set noequals: --set expects NAME=VALUE",
                                        "--set pakages: the recipe has no variable 'pakages' and no key 'pakages' "
                                        "(did you mean 'packages'?)"}));
    EXPECT_EQ(errors(path, {"image.size=tiny"}),
              std::vector<std::string>{
                  "--set image.size: 'image.size' must be a size such as 4GiB, 512MiB or 10GB, not 'tiny'"});
}

TEST_F(LoadTest, SetListsAreDedupedLikeRecipeLists) {
    dir.write("p.yaml", "packages: [a, b]\n");
    auto path = dir.write("r.yaml", std::string("include: p.yaml\n") + head + repo);
    EXPECT_EQ(load(path, options()).json().at("packages"), json({"a", "b"}));
}

TEST_F(LoadTest, ReportsIncludeCyclesAndMissingIncludes) {
    dir.write("a.yaml", "include: b.yaml\n");
    dir.write("b.yaml", "include: [c.yaml]\n");
    dir.write("c.yaml", "include: [a.yaml, missing.yaml]\n");
    auto lines = errors(dir.path() / "a.yaml");
    ASSERT_EQ(lines.size(), 2u) << lines.front();
    EXPECT_NE(lines[0].find("c.yaml:1:11: include cycle: "), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("a.yaml → "), std::string::npos);
    EXPECT_NE(lines[1].find("c.yaml:1:19: cannot include '"), std::string::npos) << lines[1];
    EXPECT_NE(lines[1].find("missing.yaml': No such file or directory"), std::string::npos) << lines[1];
}

TEST_F(LoadTest, AFileWithoutNameIsAProfile) {
    auto path = dir.write("p.yaml", "sysctl: {vm.swappiness: 1}\n");
    auto recipe = load(path, options());
    EXPECT_TRUE(recipe.is_profile());
}

TEST_F(LoadTest, CollectsErrorsFromAllFilesSortedByPlace) {
    dir.write("p.yaml", "sysctl: {nett.x: 1}\n");
    auto path = dir.write("r.yaml", std::string("include: p.yaml\n") + head + repo + "units: {enable: [x]}\n");
    auto lines = errors(path);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_NE(lines[0].find("p.yaml:1:10: 'nett.x' is not a sysctl key"), std::string::npos) << lines[0];
    EXPECT_NE(lines[1].find("r.yaml:6:18: 'x' is not a unit name"), std::string::npos) << lines[1];
}

TEST_F(LoadTest, UnreadableRecipe) {
    EXPECT_EQ(errors(dir.path() / "nope.yaml").size(), 1u);
    EXPECT_NE(errors(dir.path() / "nope.yaml")[0].find("cannot read the recipe: No such file or directory"),
              std::string::npos);
}

} // namespace
} // namespace imgbuild::recipe
