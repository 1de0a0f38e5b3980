// Semantic checks of a merged recipe, each finding placed by the SourceMap. They run after the schema
// check and skip values of the wrong type, so one mistake is reported once. This file holds the
// checks of each section (version, repos, packages, kernel, sysctl, units, image, files, accounts);
// the validators of single fields and paths they call are in field_checks.cpp.

#include "checks.hpp"
#include "checker.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

#include "imgbuild/core/files.hpp"
#include "imgbuild/core/size.hpp"
#include "imgbuild/core/strings.hpp"
#include "limits.hpp"
#include "schema.hpp"
#include "text.hpp"

namespace imgbuild::recipe {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using pointer = json::json_pointer;

// A unit name before its type suffix: [A-Za-z0-9:_.\\-]+, then optionally '@' and an instance.
bool is_unit_name(std::string_view name) {
    auto at = name.find('@');
    std::string_view prefix = name.substr(0, at);
    if (!alnum_or(prefix, ":_.\\-")) return false;
    if (at == std::string_view::npos) return true;
    std::string_view instance = name.substr(at + 1);
    return instance.empty() || alnum_or(instance, ":_.\\-");
}

// The first number in a sysctl value (words separated by spaces or tabs) that 64 bits cannot hold.
std::optional<std::string> beyond_64_bits(const std::string& value) {
    for (std::size_t start = value.find_first_not_of(" \t"); start != std::string::npos;) {
        auto end = value.find_first_of(" \t", start);
        std::string_view word = std::string_view(value).substr(start, end == std::string::npos ? end : end - start);
        bool negative = word.starts_with('-');
        std::string_view digits = negative || word.starts_with('+') ? word.substr(1) : word;
        if (!digits.empty() && std::all_of(digits.begin(), digits.end(), is_ascii_digit)) {
            bool fits = true;
            if (negative) {
                std::int64_t number = 0;
                auto result = std::from_chars(word.data(), word.data() + word.size(), number);
                fits = result.ec == std::errc{};
            } else {
                std::uint64_t number = 0;
                auto result = std::from_chars(digits.data(), digits.data() + digits.size(), number);
                fits = result.ec == std::errc{};
            }
            if (!fits) return std::string(word);
        }
        start = end == std::string::npos ? end : value.find_first_not_of(" \t", end);
    }
    return std::nullopt;
}

} // namespace

namespace semantic {

void Checker::run() {
    check_version();
    check_description();
    check_repos();
    check_packages();
    check_kernel();
    check_sysctl();
    check_units();
    check_image();
    check_files();
    check_accounts("users", "uid");
    check_accounts("groups", "gid");
    check_user_fields();
    check_paths(m_recipe, schema_document(), pointer{});
}

// The version names the build's directory (OUTDIR/builds/VERSION) and is os-release's IMAGE_VERSION:
// one plain path component, which "..", "." (every earlier build), "latest" (the link to the newest)
// or a '/' or a newline is not. Checked as written (a --set too) and as {date} and {n} make it.
void Checker::check_version() {
    const pointer at = "/version"_json_pointer;
    const json* version = get_string(at);
    if (!version) return;
    const std::string& text = version->get_ref<const std::string&>();
    static const std::vector<std::string> known = {"date", "n"};
    std::string expanded; // with {date} and {n} at their longest
    bool placeholders_ok = true;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '{') {
            auto close = text.find('}', i);
            std::string name = text.substr(i + 1, close == std::string::npos ? std::string::npos : close - i - 1);
            if (close != std::string::npos && name == "date") {
                expanded += "20240101";
            } else if (close != std::string::npos && name == "n") {
                expanded += "999999999";
            } else if (close != std::string::npos && name.find('{') == std::string::npos) {
                auto hint = closest_match(name, known);
                report(at, fmt::format("unknown placeholder '{{{}}}' in version{} (known: {{date}}, the build date, "
                                       "and {{n}}, the build number of that date)",
                                       shown(name), hint ? fmt::format(" (did you mean '{{{}}}'?)", *hint) : ""));
                placeholders_ok = false;
            } else {
                report(at,
                       fmt::format("'version' has a '{{' that does not start {{date}} or {{n}}: '{}'", shown(text)));
                return;
            }
            i = close;
        } else if (text[i] == '}') {
            report(at, fmt::format("'version' has a '}}' that does not end {{date}} or {{n}}: '{}'", shown(text)));
            return;
        } else {
            expanded += text[i];
        }
    }
    if (!placeholders_ok) return;
    bool plain = !expanded.empty() && is_ascii_alnum(expanded[0]) && alnum_or(expanded, "._+~-");
    if (!plain) {
        report(at, fmt::format("'version' names the build's directory, so it must be letters, digits and '.', "
                               "'_', '+', '~', '-' (with {{date}} and {{n}}), starting with a letter, a digit or "
                               "a placeholder; not '{}'",
                               shown(text)));
    } else if (expanded == "latest") {
        report(at, "'version' cannot be 'latest': the output directory's builds/latest names the newest build");
    } else if (expanded.size() > limits::version_length) {
        report(at, fmt::format("'version' is too long: it names a directory and may have {} characters at most "
                               "({{date}} counting 8, {{n}} up to 9), and '{}' has {}",
                               limits::version_length, shown(text, 40), expanded.size()));
    }
}

// The description is os-release's PRETTY_NAME="…" when the image has none: one line, and none of the
// characters that a shell reading os-release would take as the end of the quotes or as code.
void Checker::check_description() {
    const pointer at = "/description"_json_pointer;
    const json* description = get_string(at);
    if (!description) return;
    const std::string& text = description->get_ref<const std::string&>();
    if (auto bad = find_control(text); bad != std::string::npos) {
        report(at, fmt::format("'description' holds {}: it is one line (os-release's PRETTY_NAME)",
                               control_name(text[bad])));
    } else if (auto special = text.find_first_of("\"$`\\"); special != std::string::npos) {
        report(at, fmt::format("'description' holds '{}': it becomes os-release's PRETTY_NAME=\"…\", in which "
                               "'\"', '\\', '$' and '`' are not written as themselves (leave them out)",
                               text[special]));
    }
}

void Checker::check_repos() {
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
            report(repo / "type", fmt::format("{} has type '{}', but the recipe's format is '{}': a {} recipe installs "
                                              "from {} repos only",
                                              label, kind, format->get<std::string>(), format->get<std::string>(),
                                              *format == "deb" ? "deb" : "rpm-md"));
        auto only_for = [&](const char* key, const char* wanted) {
            if (m_recipe.contains(repo / key) && kind != wanted)
                report_key(repo / key, fmt::format("'{}' applies to {} repos only, and {} is of type '{}'", key, wanted,
                                                   label, kind));
        };
        check_archive_path(repo / "suite", "suite");
        if (const json* components = get_array(repo / "components"))
            for (std::size_t c = 0; c < components->size(); ++c)
                check_archive_path(repo / "components" / c, "component");
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

void Checker::check_packages() {
    const json* packages = get_array("/packages"_json_pointer);
    const json* excluded = get_array("/exclude"_json_pointer);
    if (!packages || !excluded) return;
    // Hashed: n packages against n exclusions in n steps.
    std::unordered_map<std::string, std::size_t> listed;
    for (std::size_t j = 0; j < packages->size(); ++j)
        if ((*packages)[j].is_string()) listed.emplace((*packages)[j].get<std::string>(), j);
    for (std::size_t i = 0; i < excluded->size(); ++i) {
        if (!(*excluded)[i].is_string()) continue;
        if (auto found = listed.find((*excluded)[i].get<std::string>()); found != listed.end())
            report("/exclude"_json_pointer / i,
                   fmt::format("'{}' is both in packages (at {}) and in exclude", found->first,
                               m_sources.value("/packages"_json_pointer / found->second).str()));
    }
}

// Kernel arguments go into the BLS entries and grub.cfg, where each is written in single quotes:
// GRUB's other special characters ($, ;, {, }, \, ", #) are then plain text, but a quote would end
// the word, and a control character the line. The arguments imgbuild sets itself are not the
// recipe's to change.
void Checker::check_kernel() {
    const json* args = get_array("/kernel/args"_json_pointer);
    if (!args) return;
    for (std::size_t i = 0; i < args->size(); ++i) {
        const pointer at = "/kernel/args"_json_pointer / i;
        const json* arg = get_string(at);
        if (!arg) continue;
        const std::string& text = arg->get_ref<const std::string&>();
        if (text.find_first_of(" \t\n\r\v\f") != std::string::npos) continue; // the schema reports it
        auto bad = std::find_if(text.begin(), text.end(), [](char c) {
            return static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f || c == '\'';
        });
        if (bad != text.end()) {
            auto c = static_cast<unsigned char>(*bad);
            std::string what = *bad == '\'' ? std::string("a single quote (grub.cfg quotes each argument "
                                                          "with single quotes, inside which none can be)")
                               : c >= 0x80  ? std::string("a character that is not ASCII")
                                            : control_name(*bad);
            report(at, fmt::format("kernel argument '{}' holds {}: an argument is printable ASCII without spaces",
                                   shown(text), what));
            continue;
        }
        std::string key = text.substr(0, text.find('='));
        if (key == "root" || key == "ostree" || text == "rw" || text == "ro")
            report(at, fmt::format("kernel argument '{}' is one imgbuild sets itself ({}); a recipe cannot set it",
                                   shown(text),
                                   key == "root"     ? "root=UUID= of the image's root filesystem"
                                   : key == "ostree" ? "ostree= names the deployment to boot"
                                                     : "the root is mounted rw, as ostree needs"));
    }
}

void Checker::check_sysctl() {
    const json* sysctl = get_object("/sysctl"_json_pointer);
    if (!sysctl) return;
    static const std::vector<std::string> roots = {"abi",    "crypto", "debug",  "dev",  "fs",
                                                   "kernel", "net",    "sunrpc", "user", "vm"};
    for (const auto& [key, value] : sysctl->items()) {
        pointer at = "/sysctl"_json_pointer / key;
        // systemd-sysctl accepts a leading '-' (ignore a failure to set it) and '/' as separator.
        std::string name = key.starts_with('-') ? key.substr(1) : key;
        std::replace(name.begin(), name.end(), '/', '.');
        std::vector<std::string> parts = dotted_parts(name);
        if (std::find(roots.begin(), roots.end(), parts.front()) == roots.end()) {
            auto root_hint = closest_match(parts.front(), roots);
            std::string hint =
                root_hint ? fmt::format(" (did you mean '{}'?)", *root_hint + name.substr(parts.front().size())) : "";
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
        auto bad =
            std::find_if(parts.begin(), parts.end(), [](const std::string& p) { return !alnum_or(p, "_*:@+-"); });
        if (bad != parts.end()) {
            report_key(at, fmt::format("'{}' is not a sysctl key: {}", shown(key),
                                       bad->empty() ? "it has an empty part ('..' or a dot at an end)"
                                                    : fmt::format("'{}' has characters a sysctl name cannot have",
                                                                  shown(*bad))));
            continue;
        }
        if (!value.is_string()) continue;
        const std::string& text = value.get_ref<const std::string&>();
        if (text.find('\n') != std::string::npos) {
            report(at, fmt::format("the value of sysctl '{}' must be one line", key));
        } else if (auto control = find_control(text, "\t"); control != std::string::npos) {
            report(at, fmt::format("the value of sysctl '{}' holds {}, which no sysctl takes", key,
                                   control_name(text[control])));
        } else if (text.empty()) {
            report(at, fmt::format("the value of sysctl '{}' must not be empty", key));
        } else if (auto number = beyond_64_bits(text)) {
            report(at, fmt::format("the value of sysctl '{}' holds {}, beyond 64 bits (a sysctl number is "
                                   "between -9223372036854775808 and 18446744073709551615)",
                                   key, shown(*number, 40)));
        }
    }
}

void Checker::check_units() {
    static const std::vector<std::string> suffixes = {"service",   "socket", "target", "timer", "path",  "mount",
                                                      "automount", "swap",   "slice",  "scope", "device"};
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
                    report(item, fmt::format("'{}' is not a unit name: it must end in a unit type such as .service, "
                                             ".socket, .timer or .target{}",
                                             unit, hint));
                } else {
                    report(item, fmt::format("'{}' is not a unit name: it ends in '.'", unit));
                }
                continue;
            }
            if (dot == 0 || !is_unit_name(std::string_view(unit).substr(0, dot))) {
                report(item, fmt::format("'{}' is not a unit name: it may hold only letters, digits and ':', '_', '.', "
                                         "'-', '\\', '@'",
                                         unit));
                continue;
            }
            if (unit.starts_with('-')) {
                report(item, fmt::format("'{}' is not a unit name: it starts with '-', which systemctl would read "
                                         "as an option",
                                         shown(unit)));
                continue;
            }
            if (unit.size() > 255) {
                report(item, fmt::format("'{}' is not a unit name: it is longer than systemd's 255 characters",
                                         shown(unit, 40)));
                continue;
            }
            auto [first, inserted] = seen.emplace(unit, list);
            if (!inserted && first->second != list)
                report(item, fmt::format("'{}' is in units.{} and in units.{}: a unit cannot be both", unit,
                                         first->second, list));
        }
    }
}

void Checker::check_image() {
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

void Checker::check_files() {
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
                   fmt::format("{} needs exactly one of 'source' (a file to copy) and 'content' (inline text)", label));
        if (!path || !path->get<std::string>().starts_with('/')) continue;
        const std::string& text = path->get_ref<const std::string&>();
        if (auto control = find_control(text); control != std::string::npos) {
            report(file / "path", fmt::format("'{}' holds {}: a path in the image is one line of printable "
                                              "characters",
                                              shown(text), control_name(text[control])));
            continue;
        }
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
void Checker::check_accounts(const char* list, const char* id_key) {
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
                report(account / "name", fmt::format("{} '{}' is already defined at {}", kind, name->get<std::string>(),
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

// users: each field is checked for the file it is written to: password-hash for /etc/shadow,
// description (GECOS), home and shell for /etc/passwd and sysusers.d, keys for tmpfiles.d's argument
// that becomes ~/.ssh/authorized_keys. A newline or a ':' in any of them would add a line or a field
// (an account with uid 0, an empty password, a command run as root at each boot).
void Checker::check_user_fields() {
    const json* users = get_array("/users"_json_pointer);
    if (!users) return;
    for (std::size_t i = 0; i < users->size(); ++i) {
        const pointer user = "/users"_json_pointer / i;
        if (const json* hash = get_string(user / "password-hash"))
            check_password_hash(user / "password-hash", hash->get_ref<const std::string&>());
        if (const json* gecos = get_string(user / "description")) {
            const std::string& text = gecos->get_ref<const std::string&>();
            // '"' and '\' are fine: sysusers.d's writer escapes them, and systemd-sysusers reads them back.
            if (auto control = find_control(text); control != std::string::npos)
                report(user / "description", fmt::format("{} holds {}: it is one field of /etc/passwd",
                                                         quoted(user / "description"), control_name(text[control])));
            else if (text.find(':') != std::string::npos)
                report(user / "description", fmt::format("{} holds ':', which separates the fields of /etc/passwd",
                                                         quoted(user / "description")));
        }
        for (const char* field : {"home", "shell"})
            if (const json* path = get_string(user / field))
                check_account_path(user / field, path->get_ref<const std::string&>());
        if (const json* keys = get_array(user / "ssh-authorized-keys")) {
            for (std::size_t k = 0; k < keys->size(); ++k) {
                const pointer at = user / "ssh-authorized-keys" / k;
                const json* key = get_string(at);
                if (!key) continue;
                const std::string& text = key->get_ref<const std::string&>();
                if (auto control = find_control(text); control != std::string::npos)
                    report(at, fmt::format("{} holds {}: each item is one line of authorized_keys (write each key "
                                           "as an item of its own)",
                                           quoted(at), control_name(text[control])));
            }
        }
    }
}

} // namespace semantic

void check_semantics(const nlohmann::json& recipe, const SourceMap& sources, std::vector<Diagnostic>& diagnostics) {
    semantic::Checker(recipe, sources, diagnostics).run();
}

} // namespace imgbuild::recipe
