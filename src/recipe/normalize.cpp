// Schema-driven normalisation of the recipe tree (x-set and x-path annotations).

#include "normalize.hpp"

#include <algorithm>
#include <filesystem>
#include <string>
#include <unordered_set>

#include "schema.hpp"

namespace imgbuild::recipe {

void normalize(Node& node, const nlohmann::json& schema) {
    if (node.kind == Node::Kind::sequence) {
        if (schema.value("x-set", false)) {
            // Hashed: a list of n items is deduplicated in n steps, not n².
            std::vector<Node> kept;
            std::unordered_set<std::string> seen;
            for (auto& item : node.items) {
                bool repeated = item.is_scalar() && !seen.insert(item.text).second;
                if (!repeated) kept.push_back(std::move(item));
            }
            node.items = std::move(kept);
        }
        if (const auto* items = child_schema(schema, "", true))
            for (auto& item : node.items) normalize(item, *items);
        return;
    }
    if (node.kind == Node::Kind::mapping) {
        for (auto& member : node.members)
            if (const auto* child = child_schema(schema, member.key, false)) normalize(member.value, *child);
        return;
    }
    if (node.kind == Node::Kind::string && schema.contains("x-path") && !node.text.empty()) {
        if (schema.at("x-path") == "file-or-url" && node.text.find("://") != std::string::npos) return;
        std::filesystem::path path(node.text);
        if (path.is_relative()) {
            path = std::filesystem::absolute(std::filesystem::path(node.where.file).parent_path() / path);
        }
        node.text = path.lexically_normal().string();
        if (node.text.size() > 1 && node.text.back() == '/') node.text.pop_back(); // "dir/." → "dir"
    }
}

nlohmann::json relative_paths(const nlohmann::json& json, const nlohmann::json& schema,
                              const std::filesystem::path& base) {
    if (json.is_object()) {
        nlohmann::json result = nlohmann::json::object();
        for (const auto& [key, value] : json.items()) {
            const auto* child = child_schema(schema, key, false);
            result[key] = child ? relative_paths(value, *child, base) : value;
        }
        return result;
    }
    if (json.is_array()) {
        nlohmann::json result = nlohmann::json::array();
        const auto* items = child_schema(schema, "", true);
        for (const auto& value : json) result.push_back(items ? relative_paths(value, *items, base) : value);
        return result;
    }
    if (json.is_string() && schema.contains("x-path")) {
        std::filesystem::path path(json.get<std::string>());
        if (path.is_absolute()) return path.lexically_relative(base).string();
    }
    return json;
}

void path_values(const nlohmann::json& json, const nlohmann::json& schema, std::vector<std::filesystem::path>& out) {
    if (json.is_object()) {
        for (const auto& [key, value] : json.items())
            if (const auto* child = child_schema(schema, key, false)) path_values(value, *child, out);
    } else if (json.is_array()) {
        if (const auto* items = child_schema(schema, "", true))
            for (const auto& value : json) path_values(value, *items, out);
    } else if (json.is_string() && schema.contains("x-path")) {
        std::filesystem::path path(json.get<std::string>());
        if (path.is_absolute()) out.push_back(path);
    }
}

} // namespace imgbuild::recipe
