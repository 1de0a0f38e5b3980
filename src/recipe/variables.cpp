// Variable expansion over the located tree, so an undefined variable is reported at the column of its
// "${" and a plain scalar that expands to a number is typed as one.

#include "variables.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "imgbuild/core/size.hpp"
#include "imgbuild/core/strings.hpp"
#include "limits.hpp"
#include "text.hpp"

namespace imgbuild::recipe {
namespace {

void collect_references(const Node& node, std::set<std::string>& names) {
    if (node.kind == Node::Kind::string || (node.is_scalar() && node.style == Node::Style::plain)) {
        for (std::size_t at = node.text.find("${"); at != std::string::npos; at = node.text.find("${", at + 2)) {
            if (at > 0 && node.text[at - 1] == '$') continue;
            auto end = node.text.find('}', at);
            if (end != std::string::npos) names.insert(node.text.substr(at + 2, end - at - 2));
        }
    }
    for (const auto& item : node.items) collect_references(item, names);
    for (const auto& member : node.members) collect_references(member.value, names);
}

} // namespace

std::set<std::string> referenced_variables(const Node& node) {
    std::set<std::string> names;
    collect_references(node, names);
    return names;
}

Location location_in_scalar(const Node& node, std::size_t offset) {
    Location where = node.where;
    bool one_line = node.text.find('\n') == std::string::npos && node.style != Node::Style::block;
    bool escapes = node.style == Node::Style::quoted && node.text.substr(0, offset).find('\\') != std::string::npos;
    if (where.known() && one_line && !escapes)
        where.column += static_cast<int>(offset) + (node.style == Node::Style::quoted ? 1 : 0);
    return where;
}

void Variables::add_builtin(const std::string& name, std::optional<std::string> value, std::string missing) {
    m_builtin[name] = Builtin{std::move(value), std::move(missing)};
}

void Variables::define(const std::string& name, Node value) { m_defined[name] = std::move(value); }

void Variables::define_invalid(const std::string& name) { m_invalid.insert(name); }

bool Variables::known(const std::string& name) const {
    return m_defined.count(name) || m_builtin.count(name) || m_invalid.count(name);
}

std::vector<std::string> Variables::names() const {
    std::vector<std::string> names;
    for (const auto& [name, _] : m_defined) names.push_back(name);
    for (const auto& [name, _] : m_builtin)
        if (!m_defined.count(name)) names.push_back(name);
    return names;
}

std::optional<std::string> Variables::value_of(const std::string& name, const Location& used_at,
                                               std::vector<Diagnostic>& diagnostics, std::vector<std::string>& stack) {
    if (auto done = m_resolved.find(name); done != m_resolved.end()) return done->second;
    // A variable whose value failed (reported once): not expanded again, or "b: ${a}${a}" chains over
    // a broken "a" would take 2^n steps.
    if (m_broken.count(name)) return std::nullopt;
    if (m_invalid.count(name) && !m_defined.count(name)) return std::nullopt;
    if (std::find(stack.begin(), stack.end(), name) != stack.end()) {
        stack.push_back(name);
        diagnostics.push_back({used_at, fmt::format("variable cycle: {}", join(stack, " → "))});
        stack.pop_back();
        return std::nullopt;
    }
    if (auto defined = m_defined.find(name); defined != m_defined.end()) {
        stack.push_back(name);
        auto value = expand_text(defined->second.text, defined->second, diagnostics, stack);
        stack.pop_back();
        if (value && !account(value->size(), used_at, diagnostics)) value.reset();
        if (value)
            m_resolved[name] = *value;
        else
            m_broken.insert(name);
        return value;
    }
    if (auto builtin = m_builtin.find(name); builtin != m_builtin.end()) {
        if (builtin->second.value) {
            m_resolved[name] = *builtin->second.value;
            return builtin->second.value;
        }
        diagnostics.push_back({used_at, fmt::format("variable '{}' has no value: {}; set it with --set {}=VALUE or "
                                                    "under vars:",
                                                    name, builtin->second.missing, name)});
        return std::nullopt;
    }
    diagnostics.push_back(
        {used_at, fmt::format("undefined variable '{}'{}; define it under vars: or with --set {}=VALUE", name,
                              did_you_mean(name, names()), name)});
    return std::nullopt;
}

std::optional<std::string> Variables::expand_text(const std::string& text, const Node& node,
                                                  std::vector<Diagnostic>& diagnostics,
                                                  std::vector<std::string>& stack) {
    std::string result;
    bool ok = true;
    std::size_t at = 0;
    while (at < text.size()) {
        if (text.compare(at, 3, "$${") == 0) { // escaped: a literal "${"
            result += "${";
            at += 3;
            continue;
        }
        if (text.compare(at, 2, "${") != 0) {
            result += text[at++];
            continue;
        }
        auto end = text.find('}', at);
        if (end == std::string::npos) {
            diagnostics.push_back({location_in_scalar(node, at), "unterminated '${' (write '$${' for a literal '${')"});
            return std::nullopt;
        }
        std::string name = text.substr(at + 2, end - at - 2);
        if (!is_variable_name(name)) {
            diagnostics.push_back({location_in_scalar(node, at),
                                   fmt::format("'${{{}}}' is not a variable name (letters, digits, '_' and '-', "
                                               "starting with a letter or '_')",
                                               name)});
            ok = false;
        } else if (auto value = value_of(name, location_in_scalar(node, at), diagnostics, stack)) {
            if (result.size() + value->size() > limits::expanded_value_bytes) {
                diagnostics.push_back({location_in_scalar(node, at),
                                       fmt::format("expanding '${{{}}}' here makes the value longer than {} (variables "
                                                   "that repeat each other double with each level)",
                                                   name, format_size(limits::expanded_value_bytes))});
                return std::nullopt;
            }
            result += *value;
        } else {
            ok = false;
        }
        at = end + 1;
    }
    return ok ? std::optional(result) : std::nullopt;
}

bool Variables::account(std::size_t bytes, const Location& where, std::vector<Diagnostic>& diagnostics) {
    m_expanded_bytes += bytes;
    if (m_expanded_bytes <= limits::expanded_total_bytes) return true;
    if (!m_exhausted)
        diagnostics.push_back({where, fmt::format("variables expand to more than {} of text in all here; values past "
                                                  "this point are not expanded",
                                                  format_size(limits::expanded_total_bytes))});
    m_exhausted = true;
    return false;
}

void Variables::expand(Node& node, std::vector<Diagnostic>& diagnostics) {
    if (node.is_scalar() && node.kind != Node::Kind::null && node.text.find('$') != std::string::npos) {
        std::vector<std::string> stack;
        auto value = m_exhausted ? std::nullopt : expand_text(node.text, node, diagnostics, stack);
        if (value && *value != node.text && !account(value->size(), node.where, diagnostics)) value.reset();
        if (!value) {
            m_failed.push_back(node.where);
        } else if (*value != node.text) {
            node.text = std::move(*value);
            resolve_scalar_kind(node);
        }
    }
    for (auto& item : node.items) expand(item, diagnostics);
    for (auto& member : node.members) expand(member.value, diagnostics);
}

} // namespace imgbuild::recipe
