// File helpers that turn errno into an imgbuild::Error at once, naming the file.

#include "imgbuild/core/files.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "imgbuild/core/error.hpp"

namespace imgbuild {

std::string readable_path(const std::filesystem::path& path) {
    if (path.is_relative()) return path.lexically_normal().string();
    std::error_code ec;
    auto relative = path.lexically_relative(std::filesystem::current_path(ec));
    if (ec || relative.empty() || *relative.begin() == "..") return path.string();
    return relative.string();
}

std::optional<std::string> try_read_file(const std::filesystem::path& path, std::string& reason) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        reason = "it is a directory";
        return std::nullopt;
    }
    std::ifstream stream(path, std::ios::binary);
    if (!stream) {
        reason = std::strerror(errno);
        return std::nullopt;
    }
    std::ostringstream contents;
    contents << stream.rdbuf();
    if (stream.bad()) {
        reason = std::strerror(errno);
        return std::nullopt;
    }
    return std::move(contents).str();
}

std::string read_file(const std::filesystem::path& path) {
    std::string reason;
    auto contents = try_read_file(path, reason);
    if (!contents) throw Error("Failed to read '{}': {}", path.string(), reason);
    return std::move(*contents);
}

} // namespace imgbuild
