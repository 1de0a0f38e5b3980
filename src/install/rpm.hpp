#pragma once
// Installing rpm packages with one librpm transaction, in the sandbox.

#include <filesystem>
#include <vector>

#include "imgbuild/install/install.hpp"
#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::install {

// Throws InstallError when the lock's own rpm cannot read the package database this librpm writes
// (EL7's rpm 4.11 reads only Berkeley DB). install_rpms checks it first.
void check_database_format(const resolve::Lock& lock);

void install_rpms(const resolve::Lock& lock, const std::vector<std::filesystem::path>& files,
                  const std::filesystem::path& root, const InstallOptions& options);

} // namespace imgbuild::install
