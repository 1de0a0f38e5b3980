// Dependencies point backwards only (ARCHITECTURE.md): a stage's sources include public headers of
// earlier stages only, and public headers never include C library or spdlog headers. CMake refuses a
// forward link (cmake/ImgbuildStage.cmake); this test catches a forward #include.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> order = {"core",    "wrap",      "recipe", "resolve", "fetch",
                                        "install", "customize", "commit", "image",   "verify"};

std::vector<std::pair<fs::path, std::string>> includes_under(const fs::path& dir) {
    static const std::regex include_line(R"(^\s*#\s*include\s*[<"]([^>"]+)[>"])");
    std::vector<std::pair<fs::path, std::string>> result;
    if (!fs::exists(dir)) return result;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        if (!entry.is_regular_file()) continue;
        auto ext = entry.path().extension();
        if (ext != ".cpp" && ext != ".hpp" && ext != ".in") continue;
        std::ifstream stream(entry.path());
        for (std::string line; std::getline(stream, line);) {
            std::smatch match;
            if (std::regex_search(line, match, include_line)) result.emplace_back(entry.path(), match[1].str());
        }
    }
    return result;
}

TEST(Layering, StagesIncludeOnlyEarlierStages) {
    fs::path src = fs::path(IMGBUILD_SOURCE_DIR) / "src";
    for (std::size_t own = 0; own < order.size(); ++own) {
        for (const auto& [file, header] : includes_under(src / order[own])) {
            for (std::size_t other = own + 1; other < order.size(); ++other)
                EXPECT_FALSE(header.starts_with("imgbuild/" + order[other] + "/"))
                    << file << " (stage " << order[own] << ") includes " << header << " of the later stage "
                    << order[other];
        }
    }
}

TEST(Layering, PublicHeadersKeepCLibrariesPrivate) {
    const std::vector<std::string> forbidden = {"solv/",   "rpm/",  "ostree",  "glib", "gio/",
                                                "spdlog/", "curl/", "archive", "gpgme"};
    for (const auto& [file, header] : includes_under(fs::path(IMGBUILD_SOURCE_DIR) / "include"))
        for (const auto& prefix : forbidden) EXPECT_FALSE(header.starts_with(prefix)) << file << " includes " << header;
}

} // namespace
