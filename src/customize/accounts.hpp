#pragma once
// The lines apply_users writes for the recipe's users and groups: sysusers.d(5) (created at build and
// on a node whose /etc lost them), tmpfiles.d(5) (homes and authorized_keys, made at boot) and
// /etc/shadow (password hashes). Each field is checked for the file it ends in and quoted by that
// file's rules, so no value can end a line or start a field of its own, whatever the recipe holds:
// a newline, a control character, or ':' in a ':'-separated file is refused (CustomizeError naming the
// user), quotes, backslashes and '%' (systemd's specifiers) are escaped.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace imgbuild::customize {

// A field of a sysusers.d or tmpfiles.d line: in double quotes, with C escapes for '\\' and '"' and
// "%%" for '%'. The value must hold no control character (the caller checked it).
std::string quoted_field(std::string_view value);
// The argument field of a tmpfiles.d line (the rest of the line, never quoted): C escapes for '\\'
// and for spaces and tabs at its ends (which tmpfiles would drop), "%%" for '%'.
std::string escaped_argument(std::string_view value);

// sysusers.d lines for the recipe's `groups` and `users` (JSON arrays as the recipe holds them):
// "g NAME GID", "u NAME UID[:GID] "GECOS" HOME SHELL", "m NAME GROUP".
std::string sysusers_lines(const nlohmann::json& groups, const nlohmann::json& users);
// tmpfiles.d lines making each user's home (0700) and ~/.ssh/authorized_keys (0600) at boot.
std::string tmpfiles_lines(const nlohmann::json& users);
// `shadow` with `user`'s password field replaced by `hash` (a crypt(3) hash, "!" or "*"). Throws when
// the user has no line or the hash is empty (an empty field lets anyone log in) or could break the line.
std::string shadow_with_hash(std::string_view shadow, const std::string& user, const std::string& hash);

} // namespace imgbuild::customize
