#pragma once
// Applies the schema's own annotations to the located tree before it becomes JSON.

#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "node.hpp"

namespace imgbuild::recipe {

// x-set lists drop repeated items (the first stays: a profile and a recipe may both list iproute2);
// x-path strings become absolute, resolved against the directory of the file that wrote them
// (the working directory for --set values), so a profile's paths mean the same wherever it is included.
void normalize(Node& node, const nlohmann::json& schema);

// Every x-path value of the tree that names a local file or directory (absolute by now), in document order.
void path_values(const nlohmann::json& json, const nlohmann::json& schema, std::vector<std::filesystem::path>& out);

// The paths of `json` (x-path values) relative to `base`, for digests that do not depend on where a
// checkout lives.
nlohmann::json relative_paths(const nlohmann::json& json, const nlohmann::json& schema,
                              const std::filesystem::path& base);

} // namespace imgbuild::recipe
