// What changed between two builds' inputs, in words: the reason a stage could not reuse its last
// result, for `build --explain`. The inputs are what build_inputs records in each commit
// (imgbuild.inputs): the recipe as canonical JSON, the digests of the files it names, the locked
// packages and imgbuild's version.

#include <algorithm>
#include <iterator>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "imgbuild/core/strings.hpp"
#include "imgbuild/pipeline/pipeline.hpp"

namespace imgbuild::pipeline {
namespace {

using json = nlohmann::json;

// "name version arch checksum" → name:arch → version (checksum kept to see rebuilds).
std::map<std::string, std::pair<std::string, std::string>> packages_of(const json& inputs) {
    std::map<std::string, std::pair<std::string, std::string>> packages;
    for (const auto& entry : inputs.value("packages", json::array())) {
        std::istringstream line(entry.get<std::string>());
        std::vector<std::string> words{std::istream_iterator<std::string>(line), {}};
        if (words.size() < 4) continue;
        packages[words[0] + ":" + words[2]] = {words[1], words[3]};
    }
    return packages;
}

std::string name_of(const std::string& key) { return key.substr(0, key.find(':')); }

} // namespace

InputChanges compare_inputs(const json& before, const json& after) {
    InputChanges changes;
    if (!before.is_object() || !before.contains("recipe")) {
        changes.first = true;
        return changes;
    }
    const json& old_recipe = before["recipe"];
    const json& new_recipe = after.value("recipe", json::object());
    for (const auto& [key, value] : new_recipe.items())
        if (!old_recipe.contains(key) || old_recipe[key] != value) changes.recipe_keys.push_back(key);
    for (const auto& [key, value] : old_recipe.items())
        if (!new_recipe.contains(key)) changes.recipe_keys.push_back(key);
    std::sort(changes.recipe_keys.begin(), changes.recipe_keys.end());

    std::map<std::string, std::string> old_files, new_files;
    for (const auto& file : before.value("files", json::array())) old_files[file[0]] = file[1];
    for (const auto& file : after.value("files", json::array())) new_files[file[0]] = file[1];
    for (const auto& [path, digest] : new_files)
        if (!old_files.contains(path) || old_files[path] != digest) changes.files.push_back(path);
    for (const auto& [path, digest] : old_files)
        if (!new_files.contains(path)) changes.files.push_back(path);

    auto old_packages = packages_of(before), new_packages = packages_of(after);
    for (const auto& [key, version] : new_packages) {
        auto it = old_packages.find(key);
        if (it == old_packages.end())
            changes.packages.push_back(fmt::format("+{} {}", name_of(key), version.first));
        else if (it->second.first != version.first)
            changes.packages.push_back(fmt::format("{} {} → {}", name_of(key), it->second.first, version.first));
        else if (it->second.second != version.second)
            changes.packages.push_back(fmt::format("{} {} (rebuilt)", name_of(key), version.first));
    }
    for (const auto& [key, version] : old_packages)
        if (!new_packages.contains(key)) changes.packages.push_back(fmt::format("-{}", name_of(key)));
    changes.tool = before.value("imgbuild", "") != after.value("imgbuild", "");
    return changes;
}

std::string InputChanges::describe_packages() const {
    if (packages.empty()) return "";
    std::vector<std::string> shown(packages.begin(),
                                   packages.begin() + std::min<std::ptrdiff_t>(std::ssize(packages), 5));
    std::string list = join(shown, ", ");
    if (packages.size() > shown.size()) list += fmt::format(" and {} more", packages.size() - shown.size());
    return fmt::format("{} package{} ({})", packages.size(), packages.size() > 1 ? "s" : "", list);
}

std::string InputChanges::describe(const std::vector<std::string>& keys, bool with_files, bool with_packages) const {
    if (first) return "no earlier build to compare with";
    std::vector<std::string> parts;
    std::vector<std::string> changed_keys;
    for (const auto& key : recipe_keys)
        if (keys.empty() || std::find(keys.begin(), keys.end(), key) != keys.end()) changed_keys.push_back(key);
    if (!changed_keys.empty()) parts.push_back("the recipe's " + join(changed_keys, ", "));
    if (with_files && !files.empty())
        parts.push_back("the file" + std::string(files.size() > 1 ? "s " : " ") + join(files, ", "));
    if (with_packages && !packages.empty()) parts.push_back(describe_packages());
    if (tool) parts.push_back("imgbuild");
    if (parts.empty()) return "";
    return "changed: " + join(parts, "; ");
}

} // namespace imgbuild::pipeline
