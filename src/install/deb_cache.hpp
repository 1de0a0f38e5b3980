#pragma once
// Debian packages repacked with an uncompressed data.tar, cached, so dpkg spends no time in xz.

#include <filesystem>
#include <vector>

namespace imgbuild::install {

// The repacked file of each .deb (in `cache_dir`, under the same name), made in parallel where missing.
std::vector<std::filesystem::path> uncompressed_debs(const std::vector<std::filesystem::path>& debs,
                                                     const std::filesystem::path& cache_dir, unsigned parallel);

} // namespace imgbuild::install
