#pragma once
// ${name} variables: built-in ones (the host's Debian mirrors, arch), the recipe's vars: and --set,
// in rising precedence. Only "${" is special; "$${" writes a literal "${", so shell text with "$1" or
// "$$" passes through untouched.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "node.hpp"

namespace imgbuild::recipe {

class Variables {
public:
    // A built-in variable; `value` is nullopt when the host cannot provide it, and `missing` says why.
    void add_builtin(const std::string& name, std::optional<std::string> value, std::string missing);
    // A variable from vars: or --set (a scalar node, so errors in its value point into it); a later
    // definition replaces an earlier one.
    void define(const std::string& name, Node value);

    // A variable the recipe defines with a value of the wrong kind (a list): known, but uses of it
    // expand to nothing without a further error (the schema reports the definition).
    void define_invalid(const std::string& name);

    bool known(const std::string& name) const;
    std::vector<std::string> names() const;

    // Expands every ${name} in the string scalars under `node` (values, not keys).
    void expand(Node& node, std::vector<Diagnostic>& diagnostics);

    // Where the scalars are that could not be expanded (their errors are reported already, so checks of
    // their unexpanded text would only repeat them).
    const std::vector<Location>& failed() const { return m_failed; }

    // The value of every variable the recipe defined or used, expanded, for `imgbuild show`.
    std::map<std::string, std::string> resolved() const { return m_resolved; }

private:
    struct Builtin {
        std::optional<std::string> value;
        std::string missing;
    };

    std::optional<std::string> expand_text(const std::string& text, const Node& node,
                                           std::vector<Diagnostic>& diagnostics, std::vector<std::string>& stack);
    std::optional<std::string> value_of(const std::string& name, const Location& used_at,
                                        std::vector<Diagnostic>& diagnostics, std::vector<std::string>& stack);

    // Adds `bytes` of expanded text to the recipe's total; false (reported once, at `where`) beyond
    // limits::expanded_total_bytes, after which nothing more is expanded.
    bool account(std::size_t bytes, const Location& where, std::vector<Diagnostic>& diagnostics);

    std::map<std::string, Node> m_defined;
    std::map<std::string, Builtin> m_builtin;
    std::map<std::string, std::string> m_resolved;
    std::set<std::string> m_invalid;
    std::set<std::string> m_broken; // defined, but their value could not be expanded (reported)
    std::size_t m_expanded_bytes = 0;
    bool m_exhausted = false;
    std::vector<Location> m_failed;
};

// The names used as ${name} anywhere under `node`.
std::set<std::string> referenced_variables(const Node& node);

// The location of the character at `offset` in a scalar: exact for one-line scalars, the scalar's
// start otherwise.
Location location_in_scalar(const Node& node, std::size_t offset);

} // namespace imgbuild::recipe
