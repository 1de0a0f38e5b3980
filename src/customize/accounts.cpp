// The users' and groups' lines of sysusers.d, tmpfiles.d and /etc/shadow, built from recipe fields.
// The recipe is validated when it is read; these writers refuse and quote on their own as well, so a
// field that reaches them by another way (a merged profile, --set, a future key) still cannot inject a
// line: a uid 0 account, an empty password, a file written as root at every boot.

#include "accounts.hpp"

#include <fmt/format.h>

#include "imgbuild/customize/customize.hpp"

namespace imgbuild::customize {
namespace {

using json = nlohmann::json;

// What a user or group name may be (sysusers' strict rule: a letter or '_' first, at most 31).
bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > 31) return false;
    if (!(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
    return true;
}

std::string name_of(const json& entry, const char* kind) {
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string())
        throw CustomizeError("Failed to create the recipe's {}s: an entry has no name", kind);
    std::string name = entry["name"];
    if (!valid_name(name))
        throw CustomizeError("Failed to create the {} '{}': the name is not letters, digits, '_', '-' and '.' (a "
                             "letter or '_' first, at most 31)",
                             kind, name);
    return name;
}

// A text field: no control character (a newline would end the line), and no ':' where the field ends
// up in a ':'-separated file (passwd, shadow).
std::string checked_text(const json& text, std::string_view field, const std::string& user, bool colon) {
    if (!text.is_string()) throw CustomizeError("Failed to create the user '{}': {} is not a string", user, field);
    std::string value = text;
    for (char signed_c : value) {
        auto c = static_cast<unsigned char>(signed_c);
        if (c < 0x20 || c == 0x7f)
            throw CustomizeError("Failed to create the user '{}': {} holds a control character ({}), which would "
                                 "break the line it is written on",
                                 user, field, c == '\n' ? "a newline" : fmt::format("0x{:02x}", c));
        if (colon && c == ':')
            throw CustomizeError("Failed to create the user '{}': {} holds ':', which separates the fields of "
                                 "/etc/passwd and /etc/shadow",
                                 user, field);
    }
    return value;
}

std::string text_field(const json& entry, const char* field, const std::string& user, bool colon) {
    return checked_text(entry.at(field), field, user, colon);
}

// An absolute, normalized path (as systemd's valid_home wants it): no "//", "/./", "/../" or trailing '/'.
std::string path_field(const json& entry, const char* field, const std::string& user) {
    std::string value = text_field(entry, field, user, true);
    bool normalized =
        value.starts_with('/') && value.find("//") == std::string::npos && (value.size() == 1 || !value.ends_with('/'));
    for (std::size_t start = 1; normalized && start < value.size();) {
        std::size_t end = value.find('/', start);
        std::string_view part = std::string_view(value).substr(start, end - start);
        if (part == "." || part == "..") normalized = false;
        start = end == std::string::npos ? value.size() : end + 1;
    }
    if (!normalized)
        throw CustomizeError("Failed to create the user '{}': {} '{}' is not a normalized absolute path", user, field,
                             value);
    return value;
}

std::string id_field(const json& entry, const char* field, const std::string& who) {
    if (!entry.contains(field)) return "-";
    const json& id = entry[field];
    if (!id.is_number_unsigned() && !(id.is_number_integer() && id.get<std::int64_t>() >= 0))
        throw CustomizeError("Failed to create '{}': {} is not a number", who, field);
    if (id.get<std::uint64_t>() >= 4294967295u)
        throw CustomizeError("Failed to create '{}': {} {} is out of range", who, field, id.dump());
    return std::to_string(id.get<std::uint64_t>());
}

} // namespace

std::string quoted_field(std::string_view value) {
    std::string result = "\"";
    for (char c : value) {
        if (c == '\\' || c == '"')
            result += '\\';
        else if (c == '%')
            result += '%';
        result += c;
    }
    return result + "\"";
}

std::string escaped_argument(std::string_view value) {
    std::string result;
    for (std::size_t i = 0; i < value.size(); ++i) {
        char c = value[i];
        bool edge = i == 0 || i + 1 == value.size();
        if (c == '\\')
            result += "\\\\";
        else if (c == '%')
            result += "%%";
        else if (edge && c == ' ')
            result += "\\x20";
        else if (edge && c == '\t')
            result += "\\x09";
        else
            result += c;
    }
    return result;
}

std::string sysusers_lines(const json& groups, const json& users) {
    std::string lines;
    for (const auto& group : groups) {
        std::string name = name_of(group, "group");
        lines += fmt::format("g {} {}\n", name, id_field(group, "gid", name));
    }
    for (const auto& user : users) {
        std::string name = name_of(user, "user");
        std::string id = id_field(user, "uid", name);
        if (user.contains("uid") && user.contains("gid")) id += ":" + id_field(user, "gid", name);
        bool system = user.value("system", false);
        std::string description = user.contains("description") ? text_field(user, "description", name, true) : name;
        std::string home = user.contains("home") ? quoted_field(path_field(user, "home", name))
                                                 : (system ? "-" : quoted_field("/home/" + name));
        std::string shell = user.contains("shell") ? quoted_field(path_field(user, "shell", name)) : "-";
        lines += fmt::format("u {} {} {} {} {}\n", name, id, quoted_field(description), home, shell);
        for (const auto& group : user.value("groups", json::array())) {
            std::string member = name_of(json{{"name", group}}, "group");
            lines += fmt::format("m {} {}\n", name, member);
        }
    }
    return lines;
}

std::string tmpfiles_lines(const json& users) {
    std::string lines;
    for (const auto& user : users) {
        std::string name = name_of(user, "user");
        std::string home = user.contains("home") ? path_field(user, "home", name) : "/home/" + name;
        if (!user.value("system", false) || user.contains("home"))
            lines += fmt::format("d {} 0700 {} {} -\n", quoted_field(home), name, name);
        if (!user.contains("ssh-authorized-keys")) continue;
        const json& keys = user["ssh-authorized-keys"];
        if (!keys.is_array())
            throw CustomizeError("Failed to create the user '{}': ssh-authorized-keys is not a list", name);
        // One argument, the keys separated by "\n" escapes: tmpfiles writes them as lines of one file.
        std::string argument;
        for (std::size_t i = 0; i < keys.size(); ++i) {
            std::string key = checked_text(keys[i], fmt::format("ssh-authorized-keys[{}]", i), name, false);
            argument += escaped_argument(key) + "\\n";
        }
        lines += fmt::format("d {} 0700 {} {} -\n", quoted_field(home + "/.ssh"), name, name);
        lines +=
            fmt::format("f {} 0600 {} {} - {}\n", quoted_field(home + "/.ssh/authorized_keys"), name, name, argument);
    }
    return lines;
}

std::string shadow_with_hash(std::string_view shadow, const std::string& user, const std::string& hash) {
    std::string checked = checked_text(hash, "password-hash", user, true);
    if (checked.empty())
        throw CustomizeError("Failed to set the password of '{}': the hash is empty, which would let anyone log in "
                             "without a password (write '!' for a locked password)",
                             user);
    std::string updated;
    bool found = false;
    while (!shadow.empty()) {
        auto end = shadow.find('\n');
        std::string line(shadow.substr(0, end));
        shadow = end == std::string_view::npos ? std::string_view() : shadow.substr(end + 1);
        if (line.starts_with(user + ":")) {
            auto second = line.find(':', user.size() + 1);
            line = user + ":" + checked + (second == std::string::npos ? std::string(":") : line.substr(second));
            found = true;
        }
        updated += line + "\n";
    }
    if (!found) throw CustomizeError("Failed to set the password of '{}': /etc/shadow has no such user", user);
    return updated;
}

} // namespace imgbuild::customize
