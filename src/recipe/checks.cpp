// Semantic checks of a merged recipe, each finding placed by the SourceMap. They run after the schema
// check and skip values of the wrong type, so one mistake is reported once.

#include "checks.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "imgbuild/core/files.hpp"
#include "imgbuild/core/size.hpp"
#include "imgbuild/core/strings.hpp"
#include "schema.hpp"

namespace imgbuild::recipe {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using pointer = json::json_pointer;

class Checker {
public:
    Checker(const json& recipe, const SourceMap& sources, std::vector<Diagnostic>& diagnostics)
        : m_recipe(recipe), m_sources(sources), m_diagnostics(diagnostics) {}

    void run() {
        check_version();
        check_repos();
        check_packages();
        check_sysctl();
        check_units();
        check_image();
        check_files();
        check_accounts("users", "uid");
        check_accounts("groups", "gid");
        check_paths(m_recipe, schema_document(), pointer{});
    }

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

    void check_version() {
        const json* version = get_string("/version"_json_pointer);
        if (!version) return;
        static const std::regex placeholder(R"(\{([^{}]*)\})");
        const std::string& text = version->get_ref<const std::string&>();
        for (std::sregex_iterator it(text.begin(), text.end(), placeholder), end; it != end; ++it) {
            static const std::vector<std::string> known = {"date", "n"};
            std::string name = (*it)[1].str();
            if (name != "date" && name != "n") {
                auto close = closest_match(name, known);
                report("/version"_json_pointer,
                       fmt::format(
                           "unknown placeholder '{{{}}}' in version{} (known: {{date}}, the build date, and {{n}}, "
                           "the build number of that date)",
                           name, close ? fmt::format(" (did you mean '{{{}}}'?)", *close) : ""));
            }
        }
        if (text.find_first_of(" /\t") != std::string::npos)
            report("/version"_json_pointer, fmt::format("'version' must not contain spaces or '/', not '{}'", text));
    }

    void check_repos() {
        const json* repos = get_array("/repos"_json_pointer);
        if (!repos) return;
        const json* format = get_string("/format"_json_pointer);
        if (format && *format != "deb" && *format != "rpm") format = nullptr; // the schema reports it
        std::map<std::string, pointer> names;
        for (std::size_t i = 0; i < repos->size(); ++i) {
            pointer repo = "/repos"_json_pointer / i;
            if (!get_object(repo)) continue;
            std::string label = fmt::format("repos[{}]", i);
            if (const json* name = get_string(repo / "name")) {
                label = fmt::format("repo '{}'", name->get<std::string>());
                auto [first, inserted] = names.emplace(name->get<std::string>(), repo / "name");
                if (!inserted)
                    report(repo / "name",
                           fmt::format("there is already a repo named '{}' (at {}); repo names must be unique",
                                       name->get<std::string>(), m_sources.value(first->second).str()));
            }
            const json* type = get_string(repo / "type");
            if (!type) continue;
            std::string kind = type->get<std::string>();
            if (format && ((*format == "deb") != (kind == "deb")))
                report(repo / "type",
                       fmt::format("{} has type '{}', but the recipe's format is '{}': a {} recipe installs "
                                   "from {} repos only",
                                   label, kind, format->get<std::string>(), format->get<std::string>(),
                                   *format == "deb" ? "deb" : "rpm-md"));
            auto only_for = [&](const char* key, const char* wanted) {
                if (m_recipe.contains(repo / key) && kind != wanted)
                    report_key(repo / key, fmt::format("'{}' applies to {} repos only, and {} is of type '{}'", key,
                                                       wanted, label, kind));
            };
            only_for("suite", "deb");
            only_for("components", "deb");
            only_for("keyring", "deb");
            only_for("gpgkey", "rpm-md");
            if (kind == "deb" && !m_recipe.contains(repo / "suite"))
                report(repo, fmt::format("{} is missing the required key 'suite' (e.g. suite: bullseye)", label));
            const json* gpgcheck = get(repo / "gpgcheck", json::value_t::boolean);
            const char* key_name = kind == "deb" ? "keyring" : "gpgkey";
            if (gpgcheck && gpgcheck->get<bool>() && !m_recipe.contains(repo / key_name))
                report(repo / "gpgcheck",
                       fmt::format("{} has gpgcheck: true but no '{}' to check signatures with", label, key_name));
        }
    }

    void check_packages() {
        const json* packages = get_array("/packages"_json_pointer);
        const json* excluded = get_array("/exclude"_json_pointer);
        if (!packages || !excluded) return;
        for (std::size_t i = 0; i < excluded->size(); ++i) {
            if (!(*excluded)[i].is_string()) continue;
            for (std::size_t j = 0; j < packages->size(); ++j) {
                if ((*packages)[j] == (*excluded)[i])
                    report("/exclude"_json_pointer / i,
                           fmt::format("'{}' is both in packages (at {}) and in exclude",
                                       (*excluded)[i].get<std::string>(),
                                       m_sources.value("/packages"_json_pointer / j).str()));
            }
        }
    }

    void check_sysctl() {
        const json* sysctl = get_object("/sysctl"_json_pointer);
        if (!sysctl) return;
        static const std::vector<std::string> roots = {"abi",    "crypto", "debug",  "dev",  "fs",
                                                       "kernel", "net",    "sunrpc", "user", "vm"};
        static const std::regex segment("[A-Za-z0-9_*:@+-]+");
        for (const auto& [key, value] : sysctl->items()) {
            pointer at = "/sysctl"_json_pointer / key;
            // systemd-sysctl accepts a leading '-' (ignore a failure to set it) and '/' as separator.
            std::string name = key.starts_with('-') ? key.substr(1) : key;
            std::replace(name.begin(), name.end(), '/', '.');
            std::vector<std::string> parts;
            for (std::size_t start = 0;;) {
                auto dot = name.find('.', start);
                parts.push_back(name.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
                if (dot == std::string::npos) break;
                start = dot + 1;
            }
            if (std::find(roots.begin(), roots.end(), parts.front()) == roots.end()) {
                auto root_hint = closest_match(parts.front(), roots);
                std::string hint =
                    root_hint ? fmt::format(" (did you mean '{}'?)", *root_hint + name.substr(parts.front().size()))
                              : "";
                report_key(at, fmt::format("'{}' is not a sysctl key: sysctl keys start with one of {}{}", key,
                                           join(roots, ", "), hint));
                continue;
            }
            if (parts.size() < 2) {
                report_key(at, fmt::format("'{}' is not a sysctl key: it needs a name under the subsystem, e.g. "
                                           "net.core.somaxconn",
                                           key));
                continue;
            }
            auto bad = std::find_if(parts.begin(), parts.end(),
                                    [](const std::string& p) { return !std::regex_match(p, segment); });
            if (bad != parts.end()) {
                report_key(at, fmt::format("'{}' is not a sysctl key: {}", key,
                                           bad->empty()
                                               ? "it has an empty part ('..' or a dot at an end)"
                                               : fmt::format("'{}' has characters a sysctl name cannot have", *bad)));
                continue;
            }
            if (value.is_string() && value.get<std::string>().find('\n') != std::string::npos)
                report(at, fmt::format("the value of sysctl '{}' must be one line", key));
            if (value.is_string() && value.get<std::string>().empty())
                report(at, fmt::format("the value of sysctl '{}' must not be empty", key));
        }
    }

    void check_units() {
        static const std::vector<std::string> suffixes = {"service",   "socket", "target", "timer", "path",  "mount",
                                                          "automount", "swap",   "slice",  "scope", "device"};
        static const std::regex unit_name(R"([A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?)");
        std::map<std::string, std::string> seen; // unit → the list it first appeared in
        for (const char* list : {"enable", "disable", "mask"}) {
            pointer at = "/units"_json_pointer / list;
            const json* units = get_array(at);
            if (!units) continue;
            for (std::size_t i = 0; i < units->size(); ++i) {
                if (!(*units)[i].is_string()) continue;
                const std::string unit = (*units)[i].get<std::string>();
                pointer item = at / i;
                auto dot = unit.rfind('.');
                std::string suffix = dot == std::string::npos ? "" : unit.substr(dot + 1);
                if (std::find(suffixes.begin(), suffixes.end(), suffix) == suffixes.end()) {
                    if (dot == std::string::npos || !suffix.empty()) {
                        auto close = dot == std::string::npos ? std::nullopt : closest_match(suffix, suffixes);
                        std::string hint = close ? fmt::format(" (did you mean '{}.{}'?)", unit.substr(0, dot), *close)
                                                 : fmt::format(" (did you mean '{}.service'?)",
                                                               dot == std::string::npos ? unit : unit.substr(0, dot));
                        report(item,
                               fmt::format("'{}' is not a unit name: it must end in a unit type such as .service, "
                                           ".socket, .timer or .target{}",
                                           unit, hint));
                    } else {
                        report(item, fmt::format("'{}' is not a unit name: it ends in '.'", unit));
                    }
                    continue;
                }
                if (!std::regex_match(unit.substr(0, dot), unit_name) || dot == 0) {
                    report(item,
                           fmt::format("'{}' is not a unit name: it may hold only letters, digits and ':', '_', '.', "
                                       "'-', '\\', '@'",
                                       unit));
                    continue;
                }
                auto [first, inserted] = seen.emplace(unit, list);
                if (!inserted && first->second != list)
                    report(item, fmt::format("'{}' is in units.{} and in units.{}: a unit cannot be both", unit,
                                             first->second, list));
            }
        }
    }

    void check_image() {
        pointer at = "/image/size"_json_pointer;
        if (const json* size = get_string(at)) {
            auto bytes = parse_size(size->get<std::string>());
            if (!bytes)
                report(at, fmt::format("'image.size' must be a size such as 4GiB, 512MiB or 10GB, not '{}'",
                                       size->get<std::string>()));
            else if (*bytes < 64ull << 20)
                report(at, fmt::format("'image.size' is {}, too small for a bootable disk (at least 64MiB)",
                                       format_size(*bytes)));
        } else if (const json* bytes = get(at, json::value_t::number_integer);
                   bytes && bytes->get<std::int64_t>() < (64ll << 20)) {
            report(at, fmt::format("'image.size' is {} bytes, too small for a bootable disk (at least 64MiB; did you "
                                   "mean '{}GiB'?)",
                                   bytes->dump(), bytes->dump()));
        }
    }

    void check_files() {
        const json* files = get_array("/files"_json_pointer);
        if (!files) return;
        static const std::vector<std::string> forbidden = {"/proc", "/sys", "/dev", "/run", "/tmp", "/boot"};
        std::map<std::string, pointer> paths;
        for (std::size_t i = 0; i < files->size(); ++i) {
            pointer file = "/files"_json_pointer / i;
            if (!get_object(file)) continue;
            bool has_source = m_recipe.contains(file / "source");
            bool has_content = m_recipe.contains(file / "content");
            const json* path = get_string(file / "path");
            std::string label = path ? fmt::format("file '{}'", path->get<std::string>()) : fmt::format("files[{}]", i);
            if (has_source == has_content)
                report(file,
                       fmt::format("{} needs exactly one of 'source' (a file to copy) and 'content' (inline text)",
                                   label));
            if (!path || !path->get<std::string>().starts_with('/')) continue;
            const std::string& text = path->get_ref<const std::string&>();
            std::string normal = fs::path(text).lexically_normal().string();
            if (normal != text || text.size() < 2) {
                report(file / "path", fmt::format("'{}' is not a clean absolute file path{}", text,
                                                  text.size() < 2 ? "" : fmt::format(" (write '{}')", normal)));
                continue;
            }
            for (const auto& prefix : forbidden)
                if (text == prefix || text.starts_with(prefix + "/"))
                    report(file / "path",
                           fmt::format("'{}' is under {}, which is not part of the image (it is created at boot)", text,
                                       prefix));
            auto [first, inserted] = paths.emplace(text, file / "path");
            if (!inserted)
                report(file / "path", fmt::format("'{}' is already written by the file at {}", text,
                                                  m_sources.value(first->second).str()));
        }
    }

    // users and groups: unique names and ids. `kind` is "user" or "group".
    void check_accounts(const char* list, const char* id_key) {
        const std::string kind = std::string(list).substr(0, std::strlen(list) - 1);
        const json* accounts = get_array(pointer("/" + std::string(list)));
        if (!accounts) return;
        std::map<std::string, pointer> names;
        std::map<std::int64_t, pointer> ids;
        for (std::size_t i = 0; i < accounts->size(); ++i) {
            pointer account = pointer("/" + std::string(list)) / i;
            const json* name = get_string(account / "name");
            if (name) {
                auto [first, inserted] = names.emplace(name->get<std::string>(), account / "name");
                if (!inserted)
                    report(account / "name",
                           fmt::format("{} '{}' is already defined at {}", kind, name->get<std::string>(),
                                       m_sources.value(first->second).str()));
            }
            if (const json* id = get(account / id_key, json::value_t::number_integer)) {
                auto [first, inserted] = ids.emplace(id->get<std::int64_t>(), account);
                if (!inserted) {
                    const json* owner = get_string(first->second / "name");
                    report(account / id_key, fmt::format("{} {} is already taken by {} '{}' at {}", id_key, id->dump(),
                                                         kind, owner ? owner->get<std::string>() : "?",
                                                         m_sources.value(first->second / id_key).str()));
                }
            }
        }
    }

    // x-path values must name something that exists (they are absolute by now, see normalize.cpp).
    void check_paths(const json& value, const json& schema, const pointer& at) {
        if (value.is_object()) {
            for (const auto& [key, child] : value.items())
                if (const json* child_schema_ = child_schema(schema, key, false))
                    check_paths(child, *child_schema_, at / key);
        } else if (value.is_array()) {
            if (const json* items = child_schema(schema, "", true))
                for (std::size_t i = 0; i < value.size(); ++i) check_paths(value[i], *items, at / i);
        } else if (value.is_string() && schema.contains("x-path")) {
            const std::string kind = schema.at("x-path").get<std::string>();
            const std::string& path = value.get_ref<const std::string&>();
            if (kind == "file-or-url" && path.find("://") != std::string::npos) return;
            std::error_code ec;
            auto status = fs::status(path, ec);
            bool want_dir = kind == "dir";
            std::string shown = readable_path(path);
            if (!fs::exists(status))
                report(at, fmt::format("{} names '{}', which does not exist", quoted(at), shown));
            else if (want_dir && !fs::is_directory(status))
                report(at, fmt::format("{} names '{}', which is not a directory", quoted(at), shown));
            else if (!want_dir && !fs::is_regular_file(status))
                report(at, fmt::format("{} names '{}', which is not a regular file", quoted(at), shown));
        }
    }

    const json& m_recipe;
    const SourceMap& m_sources;
    std::vector<Diagnostic>& m_diagnostics;
};

} // namespace

void check_semantics(const nlohmann::json& recipe, const SourceMap& sources, std::vector<Diagnostic>& diagnostics) {
    Checker(recipe, sources, diagnostics).run();
}

} // namespace imgbuild::recipe
