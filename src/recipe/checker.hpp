#pragma once
// The Checker behind check_semantics (checks.hpp): one pass over a merged recipe, each finding placed
// by the SourceMap. Its per-section checks are in checks.cpp, the validators of single fields and
// paths in field_checks.cpp; this header is private to the two.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "imgbuild/core/location.hpp"
#include "imgbuild/recipe/source_map.hpp"
#include "schema.hpp"

namespace imgbuild::recipe::semantic {

using json = nlohmann::json;
using pointer = json::json_pointer;

class Checker {
public:
    Checker(const json& recipe, const SourceMap& sources, std::vector<Diagnostic>& diagnostics)
        : m_recipe(recipe), m_sources(sources), m_diagnostics(diagnostics) {}

    void run();

private:
    // The value at `at` when it exists and has the wanted type, else nullptr.
    const json* get(const pointer& at, json::value_t type) const {
        if (!m_recipe.contains(at)) return nullptr;
        const json& value = m_recipe.at(at);
        bool matches = value.type() == type ||
                       (type == json::value_t::number_integer && value.type() == json::value_t::number_unsigned);
        return matches ? &value : nullptr;
    }
    const json* get_string(const pointer& at) const { return get(at, json::value_t::string); }
    const json* get_array(const pointer& at) const { return get(at, json::value_t::array); }
    const json* get_object(const pointer& at) const { return get(at, json::value_t::object); }

    void report(const pointer& at, std::string message) {
        m_diagnostics.push_back({m_sources.value(at), std::move(message)});
    }
    void report_key(const pointer& at, std::string message) {
        m_diagnostics.push_back({m_sources.key(at), std::move(message)});
    }

    static std::string quoted(const pointer& at) { return "'" + display_path(at) + "'"; }

    // The semantic checks of the recipe's sections (checks.cpp).
    void check_version();
    void check_description();
    void check_repos();
    void check_packages();
    void check_kernel();
    void check_sysctl();
    void check_units();
    void check_image();
    void check_files();
    void check_accounts(const char* list, const char* id_key);
    void check_user_fields();

    // The validators of single fields and paths the sections use (field_checks.cpp).
    void check_archive_path(const pointer& at, const char* what);
    void check_password_hash(const pointer& at, const std::string& text);
    void check_account_path(const pointer& at, const std::string& text);
    void check_paths(const json& value, const json& schema, const pointer& at);

    const json& m_recipe;
    const SourceMap& m_sources;
    std::vector<Diagnostic>& m_diagnostics;
};

} // namespace imgbuild::recipe::semantic
