#pragma once
// The install stage: a lock's packages (fetched) → a root filesystem with its package database.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "imgbuild/core/error.hpp"
#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::install {

// A package manager or a package's script failed. Exit code 1; the message names the package.
class InstallError : public Error {
public:
    using Error::Error;
};

struct InstallOptions {
    bool docs = true; // false: leave out documentation, man pages and locales
    std::int64_t source_date_epoch = 0;
    std::string rpm_dbpath = "/var/lib/rpm";         // rpm: where the package database goes in the root
    std::vector<std::filesystem::path> rpm_keys;     // rpm: the repos' keys (armored)
    bool rpm_require_signatures = false;             // rpm: every package must be signed by one of them
    std::function<void(std::string_view)> on_output; // every line dpkg, rpm and scripts print
    std::filesystem::path helper; // the imgbuild executable that runs the rpm transaction (default: this one)
    // Debian: where repacked packages (uncompressed data.tar) are cached; empty: beside the fetched ones.
    std::filesystem::path deb_cache;
    unsigned parallel = 4;
    // upgrade(): the root's files are hardlinks of the tree cache (dpkg and the packages' scripts then
    // run on a copy-on-write view of it).
    bool shared_files = false;
};

struct InstallResult {
    std::size_t packages = 0; // as the root's package database lists them
    double seconds = 0;
};

// Installs every package of `lock` (files[i] is lock.packages[i]) into `root`, an empty directory.
// Checks at the end that the root's package database lists exactly the locked set.
// Needs root privileges (files owned by other users, setuid files, chroot).
InstallResult install(const resolve::Lock& lock, const std::vector<std::filesystem::path>& files,
                      const std::filesystem::path& root, const InstallOptions& options);

// What turns an installed set into a lock's: the packages to remove, and the lock's packages to
// unpack (not installed, or installed in another version or build).
struct SetChanges {
    std::vector<std::string> removed;  // package names
    std::vector<std::size_t> unpacked; // indices into lock.packages
    std::size_t size() const { return removed.size() + unpacked.size(); }
};

// `installed`: the set's packages as "name version arch checksum" lines.
SetChanges set_changes(const std::vector<std::string>& installed, const resolve::Lock& lock);

// Turns `root`, an installed set, into the lock's the way a node upgrades: dpkg unpacks the new and
// changed packages (files[i] is lock.packages[changes.unpacked[i]]) and configures them, running their
// maintainer scripts and triggers. Debian only, and nothing may be removed: a removed package's
// scripts leave what they made (system users, state), which a fresh install of the lock would not
// have. Checks at the end that the root's package database lists exactly the locked set; a failure
// leaves the root half-changed.
InstallResult upgrade(const resolve::Lock& lock, const SetChanges& changes,
                      const std::vector<std::filesystem::path>& files, const std::filesystem::path& root,
                      const InstallOptions& options);

// The body of `imgbuild __rpm-transaction`, which install() runs inside the sandbox.
int rpm_transaction_main(const std::vector<std::string>& args);

} // namespace imgbuild::install
