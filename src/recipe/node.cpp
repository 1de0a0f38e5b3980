// The located recipe tree: YAML 1.2 scalar typing and the conversion to JSON plus a SourceMap.

#include "node.hpp"

#include <algorithm>
#include <charconv>

#include "text.hpp"

namespace imgbuild::recipe {

Node* Node::find(std::string_view key) {
    auto it = std::find_if(members.begin(), members.end(), [&](const Member& m) { return m.key == key; });
    return it == members.end() ? nullptr : &it->value;
}

const Node* Node::find(std::string_view key) const { return const_cast<Node*>(this)->find(key); }

bool Node::erase(std::string_view key) {
    auto it = std::find_if(members.begin(), members.end(), [&](const Member& m) { return m.key == key; });
    if (it == members.end()) return false;
    members.erase(it);
    return true;
}

Node Node::scalar(std::string text, Style style, Location where) {
    Node node;
    node.text = std::move(text);
    node.style = style;
    node.where = std::move(where);
    resolve_scalar_kind(node);
    return node;
}

Node Node::mapping(Location where) {
    Node node;
    node.kind = Kind::mapping;
    node.where = std::move(where);
    return node;
}

namespace {

std::size_t count_digits(std::string_view text, std::size_t from, bool (*digit)(char)) {
    std::size_t end = from;
    while (end < text.size() && digit(text[end])) ++end;
    return end - from;
}
bool is_octal(char c) { return c >= '0' && c <= '7'; }
bool is_hex(char c) { return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_decimal(char c) { return is_ascii_digit(c); }

// [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+
bool is_integer(std::string_view text) {
    if (text.starts_with("0o")) return text.size() > 2 && count_digits(text, 2, is_octal) == text.size() - 2;
    if (text.starts_with("0x")) return text.size() > 2 && count_digits(text, 2, is_hex) == text.size() - 2;
    std::size_t sign = !text.empty() && (text[0] == '-' || text[0] == '+') ? 1 : 0;
    return text.size() > sign && count_digits(text, sign, is_decimal) == text.size() - sign;
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool is_number(std::string_view text) {
    std::size_t at = !text.empty() && (text[0] == '-' || text[0] == '+') ? 1 : 0;
    std::size_t whole = count_digits(text, at, is_decimal);
    at += whole;
    std::size_t fraction = 0;
    if (at < text.size() && text[at] == '.') {
        fraction = count_digits(text, ++at, is_decimal);
        at += fraction;
    }
    if (whole == 0 && fraction == 0) return false;
    if (at < text.size() && (text[at] == 'e' || text[at] == 'E')) {
        ++at;
        if (at < text.size() && (text[at] == '-' || text[at] == '+')) ++at;
        std::size_t exponent = count_digits(text, at, is_decimal);
        if (exponent == 0) return false;
        at += exponent;
    }
    return at == text.size();
}

} // namespace

void resolve_scalar_kind(Node& node) {
    if (node.style != Node::Style::plain) {
        node.kind = Node::Kind::string;
        return;
    }
    const std::string& text = node.text;
    if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL")
        node.kind = Node::Kind::null;
    else if (text == "true" || text == "True" || text == "TRUE" || text == "false" || text == "False" ||
             text == "FALSE")
        node.kind = Node::Kind::boolean;
    else if (is_integer(text))
        node.kind = Node::Kind::integer;
    else if (is_number(text))
        node.kind = Node::Kind::number;
    else
        node.kind = Node::Kind::string;
}

std::string_view kind_name(Node::Kind kind) {
    switch (kind) {
    case Node::Kind::null: return "null";
    case Node::Kind::boolean: return "a boolean";
    case Node::Kind::integer: return "an integer";
    case Node::Kind::number: return "a number";
    case Node::Kind::string: return "a string";
    case Node::Kind::sequence: return "a list";
    case Node::Kind::mapping: return "a mapping";
    }
    return "a value";
}

void collect_broken(const Node& node, std::vector<Location>& out) {
    if (node.broken) out.push_back(node.where);
    for (const auto& item : node.items) collect_broken(item, out);
    for (const auto& member : node.members) collect_broken(member.value, out);
}

static nlohmann::json scalar_json(const Node& node) {
    switch (node.kind) {
    case Node::Kind::null: return nullptr;
    case Node::Kind::boolean: return node.text.front() == 't' || node.text.front() == 'T';
    case Node::Kind::integer: {
        std::string_view digits = node.text;
        int base = 10;
        if (digits.starts_with("0o"))
            base = 8, digits.remove_prefix(2);
        else if (digits.starts_with("0x"))
            base = 16, digits.remove_prefix(2);
        else if (digits.starts_with('+'))
            digits.remove_prefix(1);
        std::int64_t value = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
        if (ec == std::errc{} && end == digits.data() + digits.size()) return value;
        std::uint64_t unsigned_value = 0; // up to 2^64-1, as the kernel's unsigned long sysctls take
        auto [uend, uec] = std::from_chars(digits.data(), digits.data() + digits.size(), unsigned_value, base);
        if (uec == std::errc{} && uend == digits.data() + digits.size()) return unsigned_value;
        return node.text; // beyond 64 bits: keep the spelling rather than lose digits (checks.cpp reports it)
    }
    case Node::Kind::number: {
        double value = 0;
        std::string_view digits = node.text;
        if (digits.starts_with('+')) digits.remove_prefix(1);
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        if (ec == std::errc{} && end == digits.data() + digits.size()) return value;
        return node.text;
    }
    case Node::Kind::string:
    case Node::Kind::sequence:
    case Node::Kind::mapping: break;
    }
    return node.text;
}

static nlohmann::json to_json(const Node& node, const nlohmann::json::json_pointer& pointer, const Location& key,
                              SourceMap& sources) {
    bool typed = node.is_scalar() && node.kind != Node::Kind::string;
    sources.add(pointer, node.where, key, typed ? node.text : std::string{});
    if (node.kind == Node::Kind::sequence) {
        auto array = nlohmann::json::array();
        for (std::size_t i = 0; i < node.items.size(); ++i)
            array.push_back(to_json(node.items[i], pointer / i, node.items[i].where, sources));
        return array;
    }
    if (node.kind == Node::Kind::mapping) {
        auto object = nlohmann::json::object();
        for (const auto& member : node.members)
            object[member.key] = to_json(member.value, pointer / member.key, member.key_where, sources);
        return object;
    }
    return scalar_json(node);
}

nlohmann::json to_json(const Node& node, SourceMap& sources) {
    return to_json(node, nlohmann::json::json_pointer{}, node.where, sources);
}

void SourceMap::add(const nlohmann::json::json_pointer& pointer, Location value, Location key, std::string spelling) {
    m_entries[pointer.to_string()] = Entry{std::move(value), std::move(key), std::move(spelling)};
}

std::string SourceMap::spelling(const nlohmann::json::json_pointer& pointer) const {
    auto it = m_entries.find(pointer.to_string());
    return it == m_entries.end() ? std::string{} : it->second.spelling;
}

const SourceMap::Entry* SourceMap::find_enclosing(nlohmann::json::json_pointer pointer) const {
    while (true) {
        if (auto it = m_entries.find(pointer.to_string()); it != m_entries.end()) return &it->second;
        if (pointer.empty()) return nullptr;
        pointer.pop_back();
    }
}

Location SourceMap::value(const nlohmann::json::json_pointer& pointer) const {
    const Entry* entry = find_enclosing(pointer);
    return entry ? entry->value : Location{};
}

Location SourceMap::key(const nlohmann::json::json_pointer& pointer) const {
    const Entry* entry = find_enclosing(pointer);
    return entry ? entry->key : Location{};
}

} // namespace imgbuild::recipe
