// The validators of single fields and paths a merged recipe's semantic checks use: a suite or
// component that stays under dists/, a crypt(3) password hash and an account's clean absolute path
// (both end up as fields of /etc/shadow and /etc/passwd), x-path values that must exist, and files
// and overlays outside the recipe's directory. Kept apart from the per-section checks (checks.cpp),
// which call them through the Checker (checker.hpp).

#include "checker.hpp"
#include "checks.hpp"

#include <algorithm>
#include <filesystem>
#include <string_view>

#include <fmt/format.h>

#include "imgbuild/core/files.hpp"
#include "imgbuild/core/strings.hpp"
#include "schema.hpp"
#include "text.hpp"

namespace imgbuild::recipe {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using pointer = json::json_pointer;

// True when `path` is `tree` or below it (both canonical).
bool is_under(const fs::path& path, const fs::path& tree) {
    auto [tree_end, path_at] = std::mismatch(tree.begin(), tree.end(), path.begin(), path.end());
    return tree_end == tree.end() || (std::next(tree_end) == tree.end() && tree_end->empty());
}

} // namespace

void check_outside_tree(const nlohmann::json& recipe, const SourceMap& sources, const std::filesystem::path& tree,
                        std::vector<Diagnostic>& warnings) {
    std::error_code ec;
    fs::path base = fs::canonical(tree, ec);
    if (ec) return;
    auto check = [&](const pointer& at, const char* what) {
        if (!recipe.contains(at) || !recipe.at(at).is_string()) return;
        const std::string& named = recipe.at(at).get_ref<const std::string&>();
        std::error_code error;
        fs::path real = fs::canonical(named, error);
        if (error || is_under(real, base)) return; // a missing one is an error already
        std::string shown_real = real.string() == named ? "" : fmt::format(" (which is {})", real.string());
        warnings.push_back({sources.value(at), fmt::format("{} '{}'{} is outside the recipe's directory {}: it is "
                                                           "copied into the image as it is on this host",
                                                           what, readable_path(named), shown_real, base.string())});
    };
    if (const json& files = recipe.value("files", json::array()); files.is_array())
        for (std::size_t i = 0; i < files.size(); ++i) check("/files"_json_pointer / i / "source", "the file");
    if (const json& overlays = recipe.value("overlays", json::array()); overlays.is_array())
        for (std::size_t i = 0; i < overlays.size(); ++i) check("/overlays"_json_pointer / i, "the overlay");
}

namespace semantic {

// A suite or component is a path under the repo's dists/ (bullseye/updates is one): no "." or ".."
// part, which would lead out of it, and no empty part.
void Checker::check_archive_path(const pointer& at, const char* what) {
    const json* value = get_string(at);
    if (!value) return;
    const std::string& text = value->get_ref<const std::string&>();
    if (text.empty() || !is_ascii_alnum(text[0])) return; // the schema's pattern reports it
    for (std::size_t start = 0; start <= text.size();) {
        auto slash = text.find('/', start);
        std::string_view part =
            std::string_view(text).substr(start, slash == std::string::npos ? slash : slash - start);
        if (part.empty() || part == "." || part == "..") {
            report(at, fmt::format("'{}' is not a {}: it is a path under the repo's dists/, and {} (write names "
                                   "such as bullseye, bullseye-updates or bullseye/updates)",
                                   shown(text), what,
                                   part.empty() ? "it has an empty part ('//' or a '/' at an end)"
                                                : fmt::format("'{}' is not a name", part)));
            return;
        }
        if (slash == std::string::npos) break;
        start = slash + 1;
    }
}

// crypt(3): "$id$[param$]salt$hash" (yescrypt, SHA-crypt, bcrypt, …) or the 13 characters of DES,
// optionally locked with a leading '!'; or "!" / "*" alone (no password can log in).
void Checker::check_password_hash(const pointer& at, const std::string& text) {
    if (auto control = find_control(text); control != std::string::npos) {
        report(at, fmt::format("{} holds {}, which would end its line in /etc/shadow", quoted(at),
                               control_name(text[control])));
        return;
    }
    if (text.find(':') != std::string::npos) {
        report(at, fmt::format("{} holds ':', which separates the fields of /etc/shadow", quoted(at)));
        return;
    }
    if (text.empty()) {
        report(at, fmt::format("{} is empty, which lets anyone log in without a password (write '!' for an "
                               "account without one, or leave password-hash out)",
                               quoted(at)));
        return;
    }
    std::string_view hash = text;
    if (hash == "!" || hash == "!!" || hash == "*" || hash == "!*") return;
    if (hash.starts_with('!')) hash.remove_prefix(1);
    bool modular = hash.starts_with('$') && std::count(hash.begin(), hash.end(), '$') >= 2 && hash.size() > 3 &&
                   hash[1] != '$' && alnum_or(hash, "./$=,+-");
    bool des = hash.size() == 13 && alnum_or(hash, "./");
    if (!modular && !des)
        report(at, fmt::format("{} must be a crypt(3) hash such as \"$y$j9T$…\" or \"$6$salt$…\" (made by "
                               "mkpasswd or openssl passwd -6), or '!' for a locked account; not '{}'",
                               quoted(at), shown(text, 40)));
}

// home and shell: clean absolute paths, one field of /etc/passwd and of a sysusers.d line.
void Checker::check_account_path(const pointer& at, const std::string& text) {
    std::string problem;
    if (auto control = find_control(text); control != std::string::npos)
        problem = control_name(text[control]);
    else if (text.find_first_of(" ") != std::string::npos)
        problem = "a space";
    else if (text.find(':') != std::string::npos)
        problem = "':', which separates the fields of /etc/passwd";
    if (!problem.empty()) {
        report(at, fmt::format("{} holds {}: it must be an absolute path without spaces", quoted(at), problem));
        return;
    }
    if (!text.starts_with('/')) return; // the schema reports it
    std::string normal = fs::path(text).lexically_normal().string();
    if (normal.size() > 1 && normal.ends_with('/')) normal.pop_back();
    bool dotdot = (text + "/").find("/../") != std::string::npos;
    if (normal != text || dotdot)
        report(at, fmt::format("{} is '{}', not a clean absolute path (write '{}')", quoted(at), shown(text),
                               dotdot ? fs::path(normal).lexically_normal().string() : normal));
}

// x-path values must name something that exists (they are absolute by now, see normalize.cpp).
void Checker::check_paths(const json& value, const json& schema, const pointer& at) {
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

} // namespace semantic

} // namespace imgbuild::recipe
