#pragma once
// Reading files with errors that name the file and the reason.

#include <filesystem>
#include <optional>
#include <string>

namespace imgbuild {

// A path as messages show it: relative to the working directory when it is below it, else as given.
std::string readable_path(const std::filesystem::path& path);

// The whole file; throws Error "Failed to read 'PATH': reason".
std::string read_file(const std::filesystem::path& path);

// The whole file, or nullopt with `reason` set (strerror's words) when it cannot be read.
std::optional<std::string> try_read_file(const std::filesystem::path& path, std::string& reason);

} // namespace imgbuild
