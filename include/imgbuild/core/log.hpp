#pragma once
// Logging for people (stderr). spdlog does the writing behind this header; stages include only this.
// Text lines for a terminal, or with --log-format json one JSON object per line for CI systems.

#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "imgbuild/core/location.hpp"

namespace imgbuild::log {

enum class Level { trace, debug, info, warn, error, off };
enum class Format { text, json };

// Called once by the CLI; before that, text at info level.
void setup(Level level, Format format);
Level level();
Format format();
bool enabled(Level level);

void write(Level level, std::string_view message);
// A finding about an input: "FILE:LINE:COL: message" in text, with file/line/column fields in JSON.
void diagnostic(Level level, const Diagnostic& diagnostic);

template <class... Args>
void trace(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(Level::trace)) write(Level::trace, fmt::format(format, std::forward<Args>(args)...));
}
template <class... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(Level::debug)) write(Level::debug, fmt::format(format, std::forward<Args>(args)...));
}
template <class... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(Level::info)) write(Level::info, fmt::format(format, std::forward<Args>(args)...));
}
template <class... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(Level::warn)) write(Level::warn, fmt::format(format, std::forward<Args>(args)...));
}
template <class... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(Level::error)) write(Level::error, fmt::format(format, std::forward<Args>(args)...));
}

} // namespace imgbuild::log
