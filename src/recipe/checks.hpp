#pragma once
// The checks a JSON Schema cannot express: sysctl and unit names, sizes, paths that must exist,
// repo types that must match the format, names that must be unique, lists that contradict each other.

#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "imgbuild/core/location.hpp"
#include "imgbuild/recipe/source_map.hpp"

namespace imgbuild::recipe {

// Every finding goes to `diagnostics`. Values of the wrong type are skipped (the schema reports them).
void check_semantics(const nlohmann::json& recipe, const SourceMap& sources, std::vector<Diagnostic>& diagnostics);

// Warnings for each files[].source and overlay outside `tree` (the top-level recipe file's directory),
// symbolic links resolved: imgbuild copies them into the image as they are on the build host, so a
// recipe from elsewhere that names /etc/shadow says so.
void check_outside_tree(const nlohmann::json& recipe, const SourceMap& sources, const std::filesystem::path& tree,
                        std::vector<Diagnostic>& warnings);

} // namespace imgbuild::recipe
