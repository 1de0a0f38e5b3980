// A build's version and ref: the recipe's version pattern with {date} and {n} filled in from the lock's
// date and the ref's history, checked to be usable as the name of the build's directory.

#include <ctime>
#include <regex>

#include <fmt/format.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/pipeline/pipeline.hpp"

namespace imgbuild::pipeline {
namespace {

std::string regex_escape(const std::string& text) {
    static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
    return std::regex_replace(text, special, R"(\$&)");
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

// A version names the build's directory (OUTDIR/builds/<version>): whatever the recipe validation let
// through (a --set, a future placeholder), it must be one plain path component that is not a name the
// bundle uses itself.
std::string checked_version(const recipe::Recipe& recipe, std::string version) {
    static const std::regex plain("[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}");
    if (!std::regex_match(version, plain) || version == "latest")
        throw RecipeError({{recipe.sources().value(nlohmann::json::json_pointer("/version")),
                            fmt::format("the version '{}' cannot name a build directory: it must be 1 to 128 letters, "
                                        "digits and '.', '_', '+', '~', '-', start with a letter or digit, and not "
                                        "be 'latest'",
                                        version)}});
    return version;
}

} // namespace

std::string build_version(const recipe::Recipe& recipe, std::int64_t epoch, const std::vector<std::string>& history) {
    std::string version = recipe.version_pattern();
    std::time_t time = static_cast<std::time_t>(epoch);
    std::tm day{};
    gmtime_r(&time, &day);
    char date[16];
    std::strftime(date, sizeof date, "%Y%m%d", &day);
    version = replace_all(version, "{date}", date);
    if (version.find("{n}") == std::string::npos) return checked_version(recipe, version);
    // The pattern of this date's versions, {n} a number; the next n follows the highest.
    std::string pattern = regex_escape(version);
    pattern = replace_all(pattern, regex_escape("{n}"), "([0-9]{1,9})"); // longer ones are not ours
    std::regex same_day(pattern);
    long next = 0;
    for (const auto& old : history) {
        std::smatch match;
        if (std::regex_match(old, match, same_day)) next = std::max(next, std::stol(match[1]) + 1);
    }
    return checked_version(recipe, replace_all(version, "{n}", std::to_string(next)));
}

std::string ref_of(const recipe::Recipe& recipe) { return recipe.ref(); }

} // namespace imgbuild::pipeline
