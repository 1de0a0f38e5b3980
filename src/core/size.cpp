// Size parsing and printing for image sizes, cache limits and reports.

#include "imgbuild/core/size.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

#include <fmt/format.h>

namespace imgbuild {

std::optional<std::uint64_t> parse_size(std::string_view text) {
    static constexpr std::array<std::pair<std::string_view, double>, 13> units{{
        {"B", 1.0},
        {"KiB", 0x1p10},
        {"MiB", 0x1p20},
        {"GiB", 0x1p30},
        {"TiB", 0x1p40},
        {"K", 0x1p10},
        {"M", 0x1p20},
        {"G", 0x1p30},
        {"T", 0x1p40},
        {"kB", 1e3},
        {"MB", 1e6},
        {"GB", 1e9},
        {"TB", 1e12},
    }};
    std::size_t number_end = 0;
    while (number_end < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[number_end])) || text[number_end] == '.'))
        ++number_end;
    if (number_end == 0) return std::nullopt;
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + number_end, value);
    if (ec != std::errc{} || end != text.data() + number_end) return std::nullopt;

    std::string_view unit = text.substr(number_end);
    while (unit.starts_with(' ')) unit.remove_prefix(1);
    double factor = unit.empty() ? 1.0 : 0.0;
    for (const auto& [name, unit_factor] : units)
        if (unit == name) factor = unit_factor;
    if (factor == 0.0) return std::nullopt;

    double bytes = value * factor;
    if (bytes != std::floor(bytes) || bytes >= static_cast<double>(std::numeric_limits<std::uint64_t>::max()))
        return std::nullopt;
    return static_cast<std::uint64_t>(bytes);
}

std::string format_size(std::uint64_t bytes) {
    static constexpr std::array<std::string_view, 5> names{"B", "KiB", "MiB", "GiB", "TiB"};
    auto value = static_cast<double>(bytes);
    std::size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < names.size()) {
        value /= 1024.0;
        ++unit;
    }
    if (unit == 0) return fmt::format("{}B", bytes);
    return value == std::floor(value) ? fmt::format("{}{}", static_cast<std::uint64_t>(value), names[unit])
                                      : fmt::format("{:.1f}{}", value, names[unit]);
}

} // namespace imgbuild
