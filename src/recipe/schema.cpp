// Schema validation with valijson. valijson decides what is valid; its messages ("Value type not
// permitted by 'type' constraint.") name no value and no expectation, so each finding is reworded
// from the subschema at the failing path, and placed with the SourceMap.

#include "schema.hpp"

#include <algorithm>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "imgbuild/core/strings.hpp"
#include "text.hpp"

namespace imgbuild::recipe {
namespace {

using json = nlohmann::json;

const json& resolve_ref(const json& schema) {
    const json* current = &schema;
    while (current->is_object() && current->contains("$ref")) {
        // Only local references ("#/definitions/name") occur in our schema.
        auto pointer = json::json_pointer(current->at("$ref").get<std::string>().substr(1));
        current = &schema_document().at(pointer);
    }
    return *current;
}

// valijson::Schema can be neither copied nor moved.
std::unique_ptr<valijson::Schema> parse_schema(bool fragment) {
    json document = schema_document();
    if (fragment) document.erase("required");
    auto schema = std::make_unique<valijson::Schema>();
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(document);
    parser.populateSchema(adapter, *schema);
    return schema;
}

std::string type_phrase(const json& type) {
    static const std::map<std::string, std::string> names = {
        {"string", "a string"}, {"integer", "an integer"}, {"number", "a number"}, {"boolean", "true or false"},
        {"array", "a list"},    {"object", "a mapping"},   {"null", "empty"},
    };
    std::vector<std::string> phrases;
    for (const auto& item : type.is_array() ? type : json::array({type}))
        phrases.push_back(names.count(item.get<std::string>()) ? names.at(item.get<std::string>())
                                                               : item.get<std::string>());
    return join(phrases, " or ");
}

std::string value_phrase(const json& value) {
    switch (value.type()) {
    case json::value_t::null: return "empty";
    case json::value_t::boolean: return fmt::format("the boolean {}", value.dump());
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return fmt::format("the integer {}", value.dump());
    case json::value_t::number_float: return fmt::format("the number {}", value.dump());
    case json::value_t::string: return fmt::format("'{}'", shown(value.get_ref<const std::string&>(), 80));
    case json::value_t::array: return "a list";
    case json::value_t::object: return "a mapping";
    default: break;
    }
    return "a value";
}

// What a value matching `schema` looks like, for "must be …" messages.
std::string expectation(const json& schema) {
    if (schema.contains("x-expect")) return schema.at("x-expect").get<std::string>();
    if (schema.contains("enum")) {
        std::vector<std::string> values;
        for (const auto& item : schema.at("enum"))
            values.push_back(item.is_string() ? item.get<std::string>() : item.dump());
        return "one of " + join(values, ", ");
    }
    if (schema.contains("type")) return type_phrase(schema.at("type"));
    return "a valid value";
}

// valijson's context ("<root>", "[repos]", "[0]") as a JSON pointer, read against the document so a
// key that looks like a number is not mistaken for a list index.
json::json_pointer pointer_of(const std::vector<std::string>& context, const json& document) {
    json::json_pointer pointer;
    const json* current = &document;
    for (const auto& element : context) {
        if (element == "<root>" || element.size() < 2) continue;
        std::string token = element.substr(1, element.size() - 2);
        if (current && current->is_array()) {
            std::size_t index = std::stoul(token);
            pointer /= index;
            current = index < current->size() ? &(*current)[index] : nullptr;
        } else {
            pointer /= token;
            current = current && current->is_object() && current->contains(token) ? &current->at(token) : nullptr;
        }
    }
    return pointer;
}

const json* schema_at(const json::json_pointer& pointer, const json& document) {
    const json* schema = &schema_document();
    const json* value = &document;
    for (const auto& token : pointer_tokens(pointer)) {
        bool index = value && value->is_array();
        schema = child_schema(*schema, token, index);
        if (!schema) return nullptr;
        value = value && index                                          ? &value->at(std::stoul(token))
                : value && value->is_object() && value->contains(token) ? &value->at(token)
                                                                        : nullptr;
    }
    return &resolve_ref(*schema);
}

// Single-quoted text between the last two quotes of a valijson message.
std::string quoted_tail(const std::string& text) {
    auto end = text.rfind('\'');
    auto start = end == std::string::npos || end == 0 ? std::string::npos : text.rfind('\'', end - 1);
    return start == std::string::npos ? std::string{} : text.substr(start + 1, end - start - 1);
}

std::vector<std::string> property_names(const json& schema) {
    std::vector<std::string> names;
    if (schema.contains("properties"))
        for (const auto& [name, _] : schema.at("properties").items()) names.push_back(name);
    return names;
}

// Paths of every key the schema knows, for "'size' belongs under 'image'".
void collect_known_paths(const json& schema, const std::string& prefix, std::multimap<std::string, std::string>& out,
                         int depth = 0) {
    const json& resolved = resolve_ref(schema);
    if (depth > 3 || !resolved.contains("properties")) return;
    for (const auto& [name, child] : resolved.at("properties").items()) {
        std::string path = prefix.empty() ? name : prefix + "." + name;
        out.emplace(name, path);
        collect_known_paths(child, path, out, depth + 1);
        if (child.contains("items")) collect_known_paths(child.at("items"), path + "[]", out, depth + 1);
    }
}

const std::multimap<std::string, std::string>& known_paths_by_key() {
    static const auto known = [] {
        std::multimap<std::string, std::string> paths;
        collect_known_paths(schema_document(), "", paths);
        return paths;
    }();
    return known;
}

std::string unknown_key_message(const std::string& key, const json::json_pointer& object_pointer,
                                const json& object_schema) {
    std::string where = object_pointer.empty() ? "" : fmt::format(" in '{}'", display_path(object_pointer));
    auto names = property_names(object_schema);
    std::string hint = did_you_mean(key, names);
    if (hint.empty()) {
        auto [first, last] = known_paths_by_key().equal_range(key);
        std::vector<std::string> places;
        for (auto it = first; it != last; ++it) places.push_back("'" + it->second + "'");
        if (!places.empty()) hint = fmt::format(" (did you mean {}?)", join(places, " or "));
    }
    if (hint.empty() && !names.empty()) hint = fmt::format(" (known keys: {})", join(names, ", "));
    return fmt::format("unknown key '{}'{}{}", key, where, hint);
}

// std::regex, which valijson matches "pattern" with, recurses once per character: a string of some
// 50,000 characters overflows the stack. The strings a pattern checks (names, URLs, package specs) are
// never that long; longer ones are reported and left out of the schema's check.
constexpr std::size_t pattern_length = 4096;

// True when `schema` or one of its alternatives (oneOf, anyOf, allOf) matches strings with a pattern.
bool has_pattern(const json& schema) {
    const json& resolved = resolve_ref(schema);
    if (!resolved.is_object()) return false;
    if (resolved.contains("pattern")) return true;
    for (const char* combinator : {"oneOf", "anyOf", "allOf"})
        if (resolved.contains(combinator))
            for (const auto& alternative : resolved.at(combinator))
                if (has_pattern(alternative)) return true;
    return false;
}

void find_long_patterned(const json& value, const json& schema, const json::json_pointer& at,
                         std::vector<json::json_pointer>& out) {
    if (value.is_object()) {
        for (const auto& [key, child] : value.items())
            if (const json* child_schema_ = child_schema(schema, key, false))
                find_long_patterned(child, *child_schema_, at / key, out);
    } else if (value.is_array()) {
        if (const json* items = child_schema(schema, "", true))
            for (std::size_t i = 0; i < value.size(); ++i) find_long_patterned(value[i], *items, at / i, out);
    } else if (value.is_string() && value.get_ref<const std::string&>().size() > pattern_length) {
        if (has_pattern(schema)) out.push_back(at);
    }
}

struct Finding {
    Location where;
    std::string message;
};

std::vector<Finding> translate(const valijson::ValidationResults::Error& error, const json& document,
                               const SourceMap& sources) {
    const std::string& text = error.description;
    // valijson repeats each finding on every enclosing value; the innermost one is enough.
    if (text.starts_with("Failed to validate") || text.starts_with("Cannot validate item")) return {};

    json::json_pointer pointer = pointer_of(error.context, document);
    std::string path = pointer.empty() ? "the recipe" : "'" + display_path(pointer) + "'";
    const json* schema = schema_at(pointer, document);
    const json* value = document.contains(pointer) ? &document.at(pointer) : nullptr;
    Location where = sources.value(pointer);

    if (text.starts_with("Object contains a property that could not be validated")) {
        // valijson names only the first unknown key of an object; report them all.
        std::vector<Finding> findings;
        const json object_schema = schema ? *schema : json::object();
        auto known = property_names(object_schema);
        if (value && value->is_object())
            for (const auto& [key, _] : value->items())
                if (std::find(known.begin(), known.end(), key) == known.end())
                    findings.push_back(
                        Finding{sources.key(pointer / key), unknown_key_message(key, pointer, object_schema)});
        return findings;
    }
    if (text.starts_with("Missing required property")) {
        std::string key = quoted_tail(text);
        if (pointer.empty())
            return {Finding{where, fmt::format("missing required key '{}' (a complete recipe has name, format, repos "
                                               "and packages; a profile meant for include: has no name)",
                                               key)}};
        return {Finding{where, fmt::format("{} is missing the required key '{}'", path, key)}};
    }
    if (!schema || !value) return {Finding{where, fmt::format("{}: {}", path, text)}};

    if (text.starts_with("Value type not permitted") || text.starts_with("Failed to match regex") ||
        text.starts_with("Failed to match against any enum")) {
        std::string actual = value_phrase(*value);
        std::string written = sources.spelling(pointer);
        if (!written.empty() && written != value->dump())
            actual = fmt::format("{}, which YAML reads as {}", written, value_phrase(*value));
        std::string message = fmt::format("{} must be {}, not {}", path, expectation(*schema), actual);
        if (value->is_string() && schema->contains("enum")) {
            std::vector<std::string> choices;
            for (const auto& item : schema->at("enum")) choices.push_back(item.get<std::string>());
            message += did_you_mean(value->get<std::string>(), choices);
        }
        if (value->is_number() && schema->value("type", json()) == "string")
            message += fmt::format(" (write it in quotes: \"{}\")", written.empty() ? value->dump() : written);
        if (value->is_boolean() && pointer.to_string().starts_with("/sysctl/"))
            message += " (write 1 for true, 0 for false)";
        return {Finding{where, message}};
    }
    if (text.starts_with("Array should contain no fewer than") || text.starts_with("String should be no fewer than")) {
        return {Finding{where, fmt::format("{} must not be empty", path)}};
    }
    if (text.starts_with("String should be no more than") && value->is_string()) {
        return {Finding{where, fmt::format("{} must be at most {} characters long, not {} ('{}')", path,
                                           schema->value("maxLength", json()).dump(),
                                           value->get_ref<const std::string&>().size(),
                                           shown(value->get_ref<const std::string&>(), 40))}};
    }
    if (text.starts_with("Expected number greater than or equal to") ||
        text.starts_with("Expected number less than or equal to")) {
        return {Finding{where, fmt::format("{} must be between {} and {}, not {}", path,
                                           schema->value("minimum", json()).dump(),
                                           schema->value("maximum", json()).dump(), value->dump())}};
    }
    return {Finding{where, fmt::format("{}: {}", path, text)}};
}

} // namespace

std::vector<std::string> known_key_paths() {
    std::vector<std::string> paths;
    for (const auto& [key, path] : known_paths_by_key())
        if (path.find("[]") == std::string::npos) paths.push_back(path);
    return paths;
}

std::vector<std::string> pointer_tokens(const nlohmann::json::json_pointer& pointer) {
    // json_pointer keeps its tokens private; its string form is "/a/b" with '~1' for '/' and '~0' for '~'.
    std::vector<std::string> tokens;
    std::string text = pointer.to_string();
    std::size_t start = 1;
    while (start <= text.size() && !text.empty()) {
        std::size_t end = text.find('/', start);
        std::string token = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
        for (auto [from, to] : {std::pair{"~1", "/"}, std::pair{"~0", "~"}})
            for (auto at = token.find(from); at != std::string::npos; at = token.find(from, at + 1))
                token.replace(at, 2, to);
        tokens.push_back(std::move(token));
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return tokens;
}

const nlohmann::json& schema_document() {
    static const json document = json::parse(schema_text());
    return document;
}

const nlohmann::json* child_schema(const nlohmann::json& parent, const std::string& key, bool index) {
    const json& schema = resolve_ref(parent);
    if (!schema.is_object()) return nullptr;
    if (index) return schema.contains("items") ? &resolve_ref(schema.at("items")) : nullptr;
    if (schema.contains("properties") && schema.at("properties").contains(key))
        return &resolve_ref(schema.at("properties").at(key));
    if (schema.contains("additionalProperties") && schema.at("additionalProperties").is_object())
        return &resolve_ref(schema.at("additionalProperties"));
    return nullptr;
}

std::string display_path(const nlohmann::json::json_pointer& pointer) {
    std::string path;
    const json* schema = &schema_document();
    for (const auto& token : pointer_tokens(pointer)) {
        const json& resolved = schema ? resolve_ref(*schema) : json::object();
        bool index = resolved.contains("items") && !token.empty() &&
                     std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (index)
            path += "[" + token + "]";
        else if (alnum_or(token, "_-"))
            path += (path.empty() ? "" : ".") + token;
        else
            path += "[\"" + token + "\"]";
        schema = schema ? child_schema(*schema, token, index) : nullptr;
    }
    return path;
}

void validate_schema(const nlohmann::json& document, const SourceMap& sources, bool fragment,
                     std::vector<Diagnostic>& diagnostics) {
    static const auto complete = parse_schema(false);
    static const auto partial = parse_schema(true);
    std::vector<json::json_pointer> long_strings;
    find_long_patterned(document, schema_document(), json::json_pointer{}, long_strings);
    const json* checked = &document;
    json shortened;
    std::set<Location> skipped;
    if (!long_strings.empty()) {
        shortened = document;
        for (const auto& at : long_strings) {
            Location where = sources.value(at);
            diagnostics.push_back(
                {where,
                 fmt::format("'{}' is {} characters long; a value of its kind may have {} at "
                             "most",
                             display_path(at), document.at(at).get_ref<const std::string&>().size(), pattern_length)});
            shortened[at] = "";
            skipped.insert(where);
        }
        checked = &shortened;
    }
    valijson::Validator validator;
    valijson::ValidationResults results;
    valijson::adapters::NlohmannJsonAdapter target(*checked);
    validator.validate(fragment ? *partial : *complete, target, &results);
    valijson::ValidationResults::Error error;
    while (results.popError(error)) {
        for (auto& finding : translate(error, *checked, sources))
            if (!skipped.count(finding.where))
                diagnostics.push_back(Diagnostic{std::move(finding.where), std::move(finding.message)});
    }
}

} // namespace imgbuild::recipe
