#pragma once
// The limits on recipe input (docs/recipe.md, "Limits"). A recipe is a few kilobytes of YAML; these are
// far above any real one and far below what would exhaust memory or time: every recipe, however made,
// is read in well under a second and a few hundred MiB, or refused with the place it went too far.

#include <cstddef>

namespace imgbuild::recipe::limits {

// Each recipe file (the recipe and every file it includes), and all of them together.
inline constexpr std::size_t file_bytes = 1 << 20;
inline constexpr std::size_t total_bytes = 4 << 20;
// include: chains: how deep, and how many files in all.
inline constexpr std::size_t include_depth = 16;
inline constexpr std::size_t include_files = 100;
// Lists and mappings inside each other (a recipe needs five or six levels).
inline constexpr std::size_t nesting_depth = 64;
// What YAML aliases (*name) may repeat in all: values, and bytes of text.
inline constexpr std::size_t alias_values = 100'000;
inline constexpr std::size_t alias_bytes = 1 << 20;
// A string after ${variable} expansion, and the text expansion adds to the whole recipe.
inline constexpr std::size_t expanded_value_bytes = 1 << 20;
inline constexpr std::size_t expanded_total_bytes = 4 << 20;
// Names that become parts of paths (output directories, files under the cache).
inline constexpr std::size_t version_length = 128;
inline constexpr std::size_t name_length = 64;

} // namespace imgbuild::recipe::limits
