#pragma once
// Reading a recipe file within bounds: a regular file (not /dev/zero, a FIFO or a directory, which
// would never end or block), no larger than limits::file_bytes, and UTF-8 text YAML can hold.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "imgbuild/core/location.hpp"

namespace imgbuild::recipe {

// The file's text, or nullopt with `reason` saying why it cannot be a recipe file (errno_text's words, or
// what kind of file it is, or how large).
std::optional<std::string> read_recipe_file(const std::filesystem::path& path, std::string& reason);

// The first place where `text` is not what a recipe file may hold: a byte that is not UTF-8, a NUL, or
// a control character other than tab, newline and carriage return (YAML allows none; a value that
// needs one writes it as an escape in a double-quoted string). Columns count bytes, as yaml-cpp's
// (and so every other diagnostic's) do.
std::optional<Diagnostic> check_text(std::string_view text, const std::string& file);

} // namespace imgbuild::recipe
