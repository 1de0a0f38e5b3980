#pragma once
// Sizes as recipes write them: "4GiB", "512MiB", "1.5GiB", "2G", "4096".

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace imgbuild {

// Bytes, or nullopt when the text is not a size. Binary units (KiB, MiB, GiB, TiB, and K/M/G/T,
// which mean the same as in sfdisk and qemu-img) and decimal ones (kB, MB, GB, TB); a bare number is bytes.
std::optional<std::uint64_t> parse_size(std::string_view text);

// "4GiB", "1.5GiB", "512MiB", "300B": the shortest exact-enough binary form.
std::string format_size(std::uint64_t bytes);

} // namespace imgbuild
