#pragma once
// Small character tests for recipe values, written out instead of std::regex: libstdc++'s regex
// recurses once per character and overflows the stack on a value of some 50,000 characters, which a
// recipe file of 1 MiB can hold. And a value as messages show it: escaped and cut short.

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace imgbuild::recipe {

inline bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool is_ascii_alnum(char c) { return is_ascii_alpha(c) || is_ascii_digit(c); }

// True when `text` is not empty and each character is a letter, a digit or one of `extra`.
inline bool alnum_or(std::string_view text, std::string_view extra) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [&](char c) {
        return is_ascii_alnum(c) || extra.find(c) != std::string_view::npos;
    });
}

// A variable name: [A-Za-z_][A-Za-z0-9_-]*.
inline bool is_variable_name(std::string_view name) {
    return !name.empty() && (is_ascii_alpha(name[0]) || name[0] == '_') && alnum_or(name, "_-");
}

// The first control character in `text` (a byte below 0x20 or 0x7f) other than those in `allowed`, or
// npos.
inline std::size_t find_control(std::string_view text, std::string_view allowed = {}) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        if ((c < 0x20 || c == 0x7f) && allowed.find(text[i]) == std::string_view::npos) return i;
    }
    return std::string_view::npos;
}

// How a control character is named in messages: "a newline", "a tab", "the control character 0x1b".
inline std::string control_name(char c) {
    if (c == '\n') return "a newline";
    if (c == '\r') return "a carriage return";
    if (c == '\t') return "a tab";
    return fmt::format("the control character 0x{:02x}", static_cast<unsigned char>(c));
}

// `text` for a message: control characters escaped, at most `limit` characters (then "…").
inline std::string shown(std::string_view text, std::size_t limit = 60) {
    std::string result;
    for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
        char c = text[i];
        if (c == '\n')
            result += "\\n";
        else if (c == '\t')
            result += "\\t";
        else if (c == '\r')
            result += "\\r";
        else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            result += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        else
            result += c;
    }
    if (text.size() > limit) result += fmt::format("… ({} characters)", text.size());
    return result;
}

// The parts of a dotted name, empty ones kept: "net.core.somaxconn" → net, core, somaxconn; "a..b" → a, "", b.
// A recipe path of --set and a sysctl key are both written this way.
inline std::vector<std::string> dotted_parts(std::string_view name) {
    std::vector<std::string> parts;
    for (std::size_t start = 0;;) {
        auto dot = name.find('.', start);
        parts.emplace_back(name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return parts;
}

} // namespace imgbuild::recipe
