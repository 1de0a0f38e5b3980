// The install stage's entry point: checks what installing needs, then hands the lock to the Debian
// or rpm installer.

#include "imgbuild/install/install.hpp"

#include <unistd.h>

#include <chrono>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "deb.hpp"
#include "differences.hpp"
#include "imgbuild/core/log.hpp"
#include "rpm.hpp"

namespace imgbuild::install {

std::vector<std::string> lock_differences(const resolve::Lock& lock,
                                          const std::map<std::string, std::string>& installed) {
    std::vector<std::string> differences;
    for (const auto& package : lock.packages) {
        auto it = installed.find(package.name);
        if (it == installed.end())
            differences.push_back(fmt::format("{} {} is not installed", package.name, package.version));
        else if (it->second != package.version)
            differences.push_back(fmt::format("{} is installed in version {}, the lock has {}", package.name,
                                              it->second, package.version));
    }
    for (const auto& [name, version] : installed)
        if (!lock.find(name))
            differences.push_back(fmt::format("{} {} is installed but not in the lock", name, version));
    return differences;
}

InstallResult install(const resolve::Lock& lock, const std::vector<std::filesystem::path>& files,
                      const std::filesystem::path& root, const InstallOptions& options) {
    if (::geteuid() != 0)
        throw UsageError(
            "Failed to install: installing packages needs root (dpkg and rpm set owners, setuid bits and file "
            "capabilities); run imgbuild as root");
    if (files.size() != lock.packages.size() || lock.packages.empty())
        throw InstallError("Failed to install: the lock has {} packages, {} files were fetched", lock.packages.size(),
                           files.size());
    std::error_code ec;
    if (!std::filesystem::is_directory(root, ec) || !std::filesystem::is_empty(root, ec))
        throw UsageError("Failed to install into '{}': it must be an empty directory", root.string());

    auto start = std::chrono::steady_clock::now();
    if (lock.format == "deb")
        install_debs(lock, files, root, options);
    else if (lock.format == "rpm")
        install_rpms(lock, files, root, options);
    else
        throw InstallError("Failed to install: the lock's format '{}' is neither deb nor rpm", lock.format);
    InstallResult result{lock.packages.size(),
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
    log::debug("installed {} packages in {:.1f} s", result.packages, result.seconds);
    return result;
}

InstallResult upgrade(const resolve::Lock& lock, const SetChanges& changes,
                      const std::vector<std::filesystem::path>& files, const std::filesystem::path& root,
                      const InstallOptions& options) {
    if (::geteuid() != 0)
        throw UsageError("Failed to upgrade the installed packages: dpkg needs root; run imgbuild as root");
    if (lock.format != "deb")
        throw InstallError("Failed to upgrade the installed packages: only Debian roots are upgraded in place");
    if (!changes.removed.empty())
        throw InstallError("Failed to upgrade the installed packages: {} would be removed, and what their scripts "
                           "made (users, state) would stay; install the set afresh",
                           fmt::format("{}", fmt::join(changes.removed, ", ")));
    if (files.size() != changes.unpacked.size())
        throw InstallError("Failed to upgrade the installed packages: {} packages change, {} files were fetched",
                           changes.unpacked.size(), files.size());
    auto start = std::chrono::steady_clock::now();
    upgrade_debs(lock, files, root, options);
    InstallResult result{lock.packages.size(),
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
    log::debug("upgraded the installed set ({} removed, {} unpacked) in {:.1f} s", changes.removed.size(),
               changes.unpacked.size(), result.seconds);
    return result;
}

} // namespace imgbuild::install
