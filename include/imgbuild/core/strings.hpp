#pragma once
// Small string helpers shared by the stages: "did you mean" suggestions and joining.

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace imgbuild {

// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` if it is close enough to be a likely typo, for "did you mean '…'?".
std::optional<std::string> closest_match(std::string_view word, std::span<const std::string> candidates);

// " (did you mean 'x'?)" or "" when nothing is close.
std::string did_you_mean(std::string_view word, std::span<const std::string> candidates);

std::string join(std::span<const std::string> items, std::string_view separator);

bool starts_with_any(std::string_view text, std::span<const std::string_view> prefixes);

// One word in single quotes, as sh and GRUB's script read it: it's → 'it'\''s'.
std::string single_quoted(std::string_view text);

// ASCII case folding, independent of the locale: what file formats' case-insensitive names need.
std::string lower(std::string_view text);
bool iequals(std::string_view a, std::string_view b);

// `text` without its leading and trailing blanks (space, tab, CR, LF).
std::string_view trim(std::string_view text);

} // namespace imgbuild
