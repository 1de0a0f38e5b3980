#pragma once
// Installing Debian packages into an empty root, the way mmdebstrap does: the Essential packages'
// files unpacked with libarchive, then the root's own dpkg, in the sandbox, installs everything.

#include <filesystem>
#include <vector>

#include "imgbuild/install/install.hpp"
#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::install {

void install_debs(const resolve::Lock& lock, const std::vector<std::filesystem::path>& files,
                  const std::filesystem::path& root, const InstallOptions& options);

// Unpacks and configures `files` (the lock's new and changed packages) in the installed root.
void upgrade_debs(const resolve::Lock& lock, const std::vector<std::filesystem::path>& files,
                  const std::filesystem::path& root, const InstallOptions& options);

// Unpacks the files of a .deb's data.tar under `root`, with merged /usr (./bin → ./usr/bin, …),
// keeping owners (numeric), modes, times and file capabilities. Paths `keep` rejects are skipped.
void unpack_deb(const std::filesystem::path& deb, const std::filesystem::path& root,
                const std::function<bool(std::string_view path)>& keep);

// dpkg's path filters for docs: false, as --path-exclude/--path-include options.
std::vector<std::string> nodoc_dpkg_options();
// The same filter as a predicate on a package path ("/usr/share/doc/bash/README").
bool kept_without_docs(std::string_view path);

} // namespace imgbuild::install
