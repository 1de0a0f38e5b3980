#pragma once
// The recipe while it is being read: a YAML-like tree in which every value and every key keeps the
// file, line and column it was written at. Includes merge and variables expand on this tree; only the
// finished tree becomes nlohmann::json (plus a SourceMap), so every later error can name its place.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "imgbuild/core/location.hpp"
#include "imgbuild/recipe/source_map.hpp"

namespace imgbuild::recipe {

// The merge tags a recipe may put on a value (docs/recipe.md, "Merging").
enum class MergeTag { none, remove, replace };

struct Member;

struct Node {
    enum class Kind { null, boolean, integer, number, string, sequence, mapping };
    // How a scalar was written: a plain scalar is typed by its text (YAML 1.2 core schema) and is
    // typed again after variable expansion; a quoted or block scalar is always a string.
    enum class Style { plain, quoted, block };

    Kind kind = Kind::null;
    Style style = Style::plain;
    MergeTag tag = MergeTag::none;
    Location where;
    std::string text; // scalars: the text as written (after variable expansion)
    std::vector<Node> items;
    std::vector<Member> members;
    // A value that could not be read as written (a mapping with a YAML merge key, a string with a NUL):
    // findings about it are consequences of the error already reported, not news.
    bool broken = false;

    bool is_scalar() const { return kind != Kind::sequence && kind != Kind::mapping; }
    Node* find(std::string_view key);
    const Node* find(std::string_view key) const;
    // Removes the member named `key`; false when there was none.
    bool erase(std::string_view key);

    static Node scalar(std::string text, Style style, Location where);
    static Node mapping(Location where);
};

struct Member {
    std::string key;
    Location key_where;
    Node value;
};

// Sets kind (null, boolean, integer, number or string) from text and style, per YAML 1.2's core schema:
// "yes", "on" and "0644" are not booleans or octal, unlike YAML 1.1.
void resolve_scalar_kind(Node& node);

// The locations of the broken mappings under `node`.
void collect_broken(const Node& node, std::vector<Location>& out);

// The finished tree as JSON, recording each value's and key's location under its JSON pointer.
nlohmann::json to_json(const Node& node, SourceMap& sources);

std::string_view kind_name(Node::Kind kind);

} // namespace imgbuild::recipe
