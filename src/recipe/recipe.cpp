// The recipe stage's entry point: read the include: tree depth-first, merge it, apply --set and
// variables, normalise by the schema, then validate (schema, then semantics), collecting every finding
// before stopping, so a user fixes all mistakes in one pass.

#include "imgbuild/recipe/recipe.hpp"

#include <algorithm>
#include <functional>
#include <iterator>
#include <map>
#include <set>

#include <fmt/format.h>

#include "checks.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/size.hpp"
#include "imgbuild/core/strings.hpp"
#include "imgbuild/recipe/apt_sources.hpp"
#include "input.hpp"
#include "limits.hpp"
#include "merge.hpp"
#include "normalize.hpp"
#include "schema.hpp"
#include "text.hpp"
#include "variables.hpp"
#include "yaml_reader.hpp"

namespace imgbuild::recipe {
namespace {

namespace fs = std::filesystem;

// Reads a recipe file and the files it includes. Each file is merged once: a profile reached twice
// (a diamond) is not applied twice, so its lists are not doubled.
class Loader {
public:
    explicit Loader(std::vector<Diagnostic>& diagnostics) : m_diagnostics(diagnostics) {}

    std::optional<Node> load(const fs::path& display, const Location& included_at) {
        auto cannot = [&](const std::string& reason) {
            m_diagnostics.push_back({included_at, included_at.known()
                                                      ? fmt::format("cannot include '{}': {}", display.string(), reason)
                                                      : fmt::format("cannot read the recipe: {}", reason)});
            return std::nullopt;
        };
        // The error_code forms: a name too long for the system is a bad include, not an internal error.
        // A path without a canonical form (/dev/fd/63 leads to "pipe:[…]") is known by its own; reading
        // it says what is wrong with it.
        std::error_code ec;
        fs::path absolute = fs::absolute(display, ec).lexically_normal();
        fs::path canonical = fs::weakly_canonical(absolute, ec);
        if (ec) canonical = absolute;
        auto on_stack =
            std::find_if(m_stack.begin(), m_stack.end(), [&](const auto& f) { return f.first == canonical; });
        if (on_stack != m_stack.end()) {
            std::vector<std::string> chain;
            for (auto it = on_stack; it != m_stack.end(); ++it) chain.push_back(it->second.string());
            chain.push_back(display.string());
            m_diagnostics.push_back({included_at, fmt::format("include cycle: {}", join(chain, " → "))});
            return std::nullopt;
        }
        if (std::find(m_files.begin(), m_files.end(), canonical) != m_files.end()) {
            log::debug("{} is included more than once; it is merged once, where it is first included",
                       display.string());
            return Node::mapping(included_at);
        }

        if (m_stack.size() >= limits::include_depth)
            return cannot(fmt::format("include: chains may be {} files deep at most, and this one is deeper",
                                      limits::include_depth));
        if (m_files.size() >= limits::include_files)
            return cannot(fmt::format("a recipe may read {} files at most", limits::include_files));
        std::string reason;
        auto text = read_recipe_file(display, reason);
        if (!text) return cannot(reason);
        m_bytes += text->size();
        if (m_bytes > limits::total_bytes)
            return cannot(
                fmt::format("the recipe's files would hold more than {} in all", format_size(limits::total_bytes)));
        if (auto bad = check_text(*text, display.string())) {
            m_diagnostics.push_back(std::move(*bad));
            return std::nullopt;
        }
        auto tree = read_yaml(*text, display.string(), m_diagnostics);
        if (!tree) return std::nullopt;

        m_files.push_back(canonical);
        m_stack.emplace_back(canonical, display);
        Node merged = Node::mapping(tree->where);
        for (const Node* include : includes_of(*tree)) {
            fs::path child = (display.parent_path() / include->text).lexically_normal();
            if (auto included = load(child, include->where)) merge_into(merged, std::move(*included), m_diagnostics);
        }
        tree->erase("include");
        merge_into(merged, std::move(*tree), m_diagnostics);
        m_stack.pop_back();
        return merged;
    }

    const std::vector<fs::path>& files() const { return m_files; }

private:
    // The include: entries of a file, each a string naming a file; others are reported.
    std::vector<const Node*> includes_of(const Node& tree) {
        std::vector<const Node*> result;
        const Node* include = tree.find("include");
        if (!include) return result;
        if (include->kind == Node::Kind::string) {
            result.push_back(include);
        } else if (include->kind == Node::Kind::sequence) {
            for (const auto& item : include->items) {
                if (item.kind != Node::Kind::string)
                    m_diagnostics.push_back(
                        {item.where, fmt::format("'include' items must be file names, not {}", kind_name(item.kind))});
                else
                    result.push_back(&item);
            }
        } else {
            m_diagnostics.push_back(
                {include->where, fmt::format("'include' must be a file name or a list of file names, not {}",
                                             kind_name(include->kind))});
        }
        std::erase_if(result, [&](const Node* item) {
            if (item->text.find("${") == std::string::npos) return false;
            m_diagnostics.push_back({item->where, "variables are not expanded in include: paths (includes are read "
                                                  "before variables are known)"});
            return true;
        });
        return result;
    }

    std::vector<Diagnostic>& m_diagnostics;
    std::vector<std::pair<fs::path, fs::path>> m_stack; // (canonical, as displayed) of the files being read
    std::vector<fs::path> m_files;
    std::size_t m_bytes = 0; // read so far, from every file
};

void add_builtins(Variables& variables, const Node& root, const fs::path& apt_dir) {
    const Node* arch = root.find("arch");
    variables.add_builtin("arch", arch && arch->kind == Node::Kind::string ? arch->text : "x86_64", "");
    auto archives = find_debian_archives(read_apt_sources(apt_dir));
    std::error_code ec;
    bool configured = fs::is_directory(apt_dir, ec);
    std::string shown = readable_path(apt_dir);
    auto missing = [&](std::string_view archive) {
        if (!configured) return fmt::format("there is no apt configuration at {}", shown);
        return fmt::format("the host's apt sources ({0}/sources.list, {0}/sources.list.d/) name no Debian {1} archive",
                           shown, archive);
    };
    variables.add_builtin("debian_mirror", archives.main, missing("main"));
    variables.add_builtin("debian_security_mirror", archives.security, missing("security"));
}

// vars: entries become variables; the node stays in the tree (without expansion) until show time.
void define_recipe_vars(Variables& variables, const Node& root, std::vector<Diagnostic>& diagnostics) {
    const Node* vars = root.find("vars");
    if (!vars || vars->kind != Node::Kind::mapping) return; // the schema reports a wrong type
    for (const auto& member : vars->members) {
        if (!is_variable_name(member.key)) {
            diagnostics.push_back(
                {member.key_where, fmt::format("'{}' is not a variable name (letters, digits, '_' and '-', "
                                               "starting with a letter or '_')",
                                               member.key)});
        } else if (member.value.is_scalar() && member.value.kind != Node::Kind::null) {
            variables.define(member.key, member.value);
        } else {
            variables.define_invalid(member.key); // the schema says what is wrong with the value
        }
    }
}

// True when `schema` accepts a string but not a scalar of `kind`.
bool accepts_string_only(const nlohmann::json& schema, Node::Kind kind) {
    static const std::map<Node::Kind, std::string> names = {{Node::Kind::boolean, "boolean"},
                                                            {Node::Kind::integer, "integer"},
                                                            {Node::Kind::number, "number"},
                                                            {Node::Kind::null, "null"},
                                                            {Node::Kind::string, "string"}};
    auto types = schema.value("type", nlohmann::json());
    if (types.is_string()) types = nlohmann::json::array({types});
    if (!types.is_array()) return false;
    auto accepts = [&](const std::string& type) { return std::find(types.begin(), types.end(), type) != types.end(); };
    bool kind_ok = accepts(names.at(kind)) || (kind == Node::Kind::integer && accepts("number"));
    return accepts("string") && !kind_ok;
}

// --set NAME=VALUE on a recipe path (version, image.size, sysctl.net.core.somaxconn): the value is
// read as YAML, so "--set image.formats=[raw]" gives a list. False when NAME names no recipe key.
bool set_recipe_path(Node& root, const std::string& name, const std::string& value,
                     std::vector<Diagnostic>& diagnostics) {
    Location where{"--set " + name, 0, 0};
    std::vector<std::string> segments = dotted_parts(name);
    const nlohmann::json* schema = &schema_document();
    Node* node = &root;
    for (std::size_t i = 0; i < segments.size(); ++i) {
        bool free_keys = !schema->contains("properties") && schema->contains("additionalProperties");
        std::string key = segments[i];
        if (free_keys) { // sysctl: the rest of the name is one key with dots in it
            std::vector<std::string> rest(segments.begin() + static_cast<std::ptrdiff_t>(i), segments.end());
            key = join(rest, ".");
        } else if (!schema->contains("properties") || !schema->at("properties").contains(key) || key == "include") {
            return false;
        }
        const nlohmann::json* next = child_schema(*schema, key, false);
        bool last = free_keys || i + 1 == segments.size();
        Node* existing = node->find(key);
        if (last) {
            std::vector<Diagnostic> parse_errors;
            auto parsed = read_yaml("value: " + value, where.file, parse_errors);
            Node replacement = parsed && parsed->find("value") ? *parsed->find("value")
                                                               : Node::scalar(value, Node::Style::quoted, where);
            std::function<void(Node&)> relocate = [&](Node& n) {
                n.where = where;
                for (auto& item : n.items) relocate(item);
                for (auto& member : n.members) member.key_where = where, relocate(member.value);
            };
            relocate(replacement);
            // "--set version=7" means the string "7" when the key takes a string and no number.
            if (replacement.is_scalar() && next && accepts_string_only(*next, replacement.kind)) {
                replacement.kind = Node::Kind::string;
                replacement.style = Node::Style::quoted;
            }
            if (existing)
                *existing = std::move(replacement);
            else
                node->members.push_back(Member{key, where, std::move(replacement)});
            return true;
        }
        if (!existing) {
            node->members.push_back(Member{key, where, Node::mapping(where)});
            existing = &node->members.back().value;
        } else if (existing->kind != Node::Kind::mapping) {
            diagnostics.push_back({where, fmt::format("cannot set '{}': '{}' is {}, not a mapping", name, key,
                                                      kind_name(existing->kind))});
            return true;
        }
        node = existing;
        schema = next;
    }
    return true;
}

void apply_set_options(Node& root, Variables& variables, const std::vector<std::string>& set,
                       std::vector<Diagnostic>& diagnostics) {
    std::set<std::string> referenced = referenced_variables(root);
    for (const auto& option : set) {
        auto equals = option.find('=');
        if (equals == std::string::npos || equals == 0) {
            diagnostics.push_back({Location{"--set " + option, 0, 0}, "--set expects NAME=VALUE"});
            continue;
        }
        std::string name = option.substr(0, equals), value = option.substr(equals + 1);
        if (variables.known(name) || referenced.count(name)) {
            variables.define(name, Node::scalar(value, Node::Style::plain, Location{"--set " + name, 0, 0}));
        } else if (!set_recipe_path(root, name, value, diagnostics)) {
            std::vector<std::string> candidates = variables.names();
            for (auto& path : known_key_paths()) candidates.push_back(std::move(path));
            diagnostics.push_back(
                {Location{"--set " + name, 0, 0}, fmt::format("the recipe has no variable '{0}' and no key '{0}'{1}",
                                                              name, did_you_mean(name, candidates))});
        }
    }
}

} // namespace

Recipe::Recipe(nlohmann::json document, SourceMap sources, fs::path path, std::vector<fs::path> files)
    : m_json(std::move(document)), m_sources(std::move(sources)), m_path(std::move(path)), m_files(std::move(files)) {}

Recipe load(const fs::path& path, const LoadOptions& options) {
    std::vector<Diagnostic> diagnostics;
    auto fail = [&]() -> RecipeError {
        sort_unique(diagnostics);
        return RecipeError(std::move(diagnostics));
    };

    fs::path display = readable_path(path);
    Loader loader(diagnostics);
    auto root = loader.load(display, Location{display.string(), 0, 0});
    if (!root) throw fail();
    finish_merge(*root, diagnostics);

    Variables variables;
    add_builtins(variables, *root, options.apt_dir);
    define_recipe_vars(variables, *root, diagnostics);
    apply_set_options(*root, variables, options.set, diagnostics);

    // vars: itself is not expanded in place (each variable expands where it is used), but shown resolved.
    std::optional<Member> vars;
    if (auto it =
            std::find_if(root->members.begin(), root->members.end(), [](const Member& m) { return m.key == "vars"; });
        it != root->members.end()) {
        vars = std::move(*it);
        root->members.erase(it);
    }
    variables.expand(*root, diagnostics);
    if (vars && vars->value.kind == Node::Kind::mapping) {
        auto resolved = variables.resolved();
        for (auto& member : vars->value.members) {
            if (auto value = resolved.find(member.key); value != resolved.end() && member.value.is_scalar()) {
                member.value.text = value->second;
                resolve_scalar_kind(member.value);
            }
        }
    }
    if (vars) root->members.push_back(std::move(*vars));

    normalize(*root, schema_document());
    SourceMap sources;
    nlohmann::json document = to_json(*root, sources);
    std::vector<Diagnostic> findings;
    validate_schema(document, sources, !document.contains("name"), findings);
    check_semantics(document, sources, findings);
    std::vector<Diagnostic> warnings;
    check_outside_tree(document, sources, fs::absolute(display).parent_path(), warnings);
    sort_unique(warnings);
    for (const auto& warning : warnings) log::diagnostic(log::Level::warn, warning);
    // Findings about values whose error is reported already (an undefined variable, a merge key) are noise.
    std::vector<Location> failed_list = variables.failed();
    collect_broken(*root, failed_list);
    std::set<Location> failed(failed_list.begin(), failed_list.end());
    std::copy_if(findings.begin(), findings.end(), std::back_inserter(diagnostics),
                 [&](const Diagnostic& d) { return !failed.count(d.where); });
    if (!diagnostics.empty()) throw fail();

    log::debug("loaded {} ({} files)", display.string(), loader.files().size());
    return Recipe(std::move(document), std::move(sources), path, loader.files());
}

std::string Recipe::name() const { return m_json.value("name", ""); }

std::string Recipe::arch() const { return m_json.value("arch", "x86_64"); }

std::string Recipe::version_pattern() const { return m_json.value("version", "{date}.{n}"); }

bool Recipe::docs() const { return m_json.value("docs", true); }

bool Recipe::has_kernel() const { return m_json.contains("kernel") && m_json["kernel"].contains("package"); }

std::string Recipe::ref() const {
    auto ref = nlohmann::json::json_pointer("/ostree/ref");
    if (m_json.contains(ref)) return m_json.at(ref).get<std::string>();
    return "imgbuild/" + name() + "/" + arch();
}

nlohmann::json Recipe::canonical_json() const {
    auto base = std::filesystem::absolute(m_path).parent_path().lexically_normal();
    return relative_paths(m_json, schema_document(), base);
}

std::vector<std::filesystem::path> Recipe::input_paths() const {
    std::vector<std::filesystem::path> paths;
    path_values(m_json, schema_document(), paths);
    return paths;
}

std::string_view schema() { return schema_text(); }

std::string package_name(std::string_view spec) { return std::string(spec.substr(0, spec.find_first_of(" <=>"))); }

} // namespace imgbuild::recipe
