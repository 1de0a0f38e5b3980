#pragma once
// Installing rpm packages with one librpm transaction, in the sandbox.

#include <filesystem>
#include <vector>

#include "imgbuild/install/install.hpp"
#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::install {

void install_rpms(const resolve::Lock& lock, const std::vector<std::filesystem::path>& files,
                  const std::filesystem::path& root, const InstallOptions& options);

} // namespace imgbuild::install
