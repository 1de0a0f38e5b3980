#pragma once
// The recipe's JSON Schema: the text built into the binary, a walker that finds the subschema for a
// value, and validation with valijson whose findings become located, readable diagnostics.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "imgbuild/core/location.hpp"
#include "imgbuild/recipe/source_map.hpp"

namespace imgbuild::recipe {

std::string_view schema_text();
const nlohmann::json& schema_document();

// The schema of a child (a key of a mapping, or an item of a list when `index`) of a value whose
// schema is `parent`, following $ref; nullptr when the schema says nothing about it.
const nlohmann::json* child_schema(const nlohmann::json& parent, const std::string& key, bool index);

// Every key the schema names, as dotted paths (image.size), for suggestions.
std::vector<std::string> known_key_paths();

// The reference tokens of a JSON pointer, unescaped.
std::vector<std::string> pointer_tokens(const nlohmann::json::json_pointer& pointer);

// A JSON pointer as people write recipe paths: repos[0].url, sysctl["net.core.somaxconn"].
std::string display_path(const nlohmann::json::json_pointer& pointer);

// Checks `document` against the schema. A fragment (a profile meant to be included) may lack the keys
// a complete recipe requires.
void validate_schema(const nlohmann::json& document, const SourceMap& sources, bool fragment,
                     std::vector<Diagnostic>& diagnostics);

} // namespace imgbuild::recipe
