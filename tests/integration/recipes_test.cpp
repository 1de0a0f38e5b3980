// Every recipe and profile shipped under recipes/ validates, with the host's own apt configuration
// (the built-in ${debian_mirror} comes from it, as for a user of this machine).

#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "imgbuild/recipe/apt_sources.hpp"
#include "support/command.hpp"

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;

TEST(ShippedRecipes, AllValidate) {
    if (!recipe::find_debian_archives(recipe::read_apt_sources("/etc/apt")).main)
        GTEST_SKIP()
            << "skipped: this host's apt sources name no Debian archive, which recipes/debian11-node.yaml uses";
    std::vector<std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(fs::path(IMGBUILD_SOURCE_DIR) / "recipes"))
        if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
    ASSERT_GE(files.size(), 3u);
    std::vector<std::string> args{"validate"};
    args.insert(args.end(), files.begin(), files.end());
    auto result = run_imgbuild(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
}

TEST(ShippedRecipes, DefaultRecipeShowsTheContainerHostTuning) {
    if (!recipe::find_debian_archives(recipe::read_apt_sources("/etc/apt")).main)
        GTEST_SKIP()
            << "skipped: this host's apt sources name no Debian archive, which recipes/debian11-node.yaml uses";
    auto result = run_imgbuild({"show", std::string(IMGBUILD_SOURCE_DIR) + "/recipes/debian11-node.yaml"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    auto json = nlohmann::json::parse(result.out);
    EXPECT_EQ(json.at("format"), "deb");
    EXPECT_EQ(json.at("sysctl").at("net.ipv4.tcp_congestion_control"), "bbr");
    EXPECT_EQ(json.at("sysctl").at("net.core.somaxconn"), 4096);
    EXPECT_NE(std::find(json.at("modules-load").begin(), json.at("modules-load").end(), "ip_vs"),
              json.at("modules-load").end());
    for (const auto& repo : json.at("repos")) {
        EXPECT_TRUE(repo.at("url").get<std::string>().starts_with("http")) << repo.dump();
        EXPECT_EQ(repo.at("url").get<std::string>().find("${"), std::string::npos);
    }
}

} // namespace
} // namespace imgbuild::test
