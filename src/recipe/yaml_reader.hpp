#pragma once
// YAML text → located Node tree, with every syntax problem reported as a diagnostic.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "node.hpp"

namespace imgbuild::recipe {

// Parses one YAML document. `file` is the name diagnostics use. Returns nullopt when the text is not
// YAML at all; duplicate keys, unknown tags and the like are reported but still give a tree.
std::optional<Node> read_yaml(std::string_view text, const std::string& file, std::vector<Diagnostic>& diagnostics);

} // namespace imgbuild::recipe
