#pragma once
// The lockfile: the exact, verified package set of a recipe, reproducible from the lock alone (every
// package's URL and checksum), plus what it was resolved from (repo metadata checksums, recipe digests)
// and the SOURCE_DATE_EPOCH the build uses. JSON with sorted keys and sorted packages, so two locks
// of the same set are byte-identical and diff well.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "imgbuild/core/digest.hpp"

namespace imgbuild::resolve {

struct LockedPackage {
    std::string name;
    std::string version; // the full version: Debian's [epoch:]upstream[-revision], rpm's [epoch:]version-release
    std::optional<std::int64_t> epoch; // rpm: epoch, version and release apart
    std::optional<std::string> upstream_version;
    std::optional<std::string> release;
    std::string arch;
    std::string repo;
    std::string url;
    Checksum checksum;
    std::uint64_t size = 0;           // download size in bytes
    std::uint64_t installed_size = 0; // bytes
    bool essential = false;           // Debian's Essential: yes
    bool bootstrap = false;           // Debian: Essential or needed by an Essential package, unpacked before dpkg runs
    std::string priority;             // Debian's Priority field, when given

    bool operator==(const LockedPackage&) const = default;
};

struct LockedMetadata {
    std::string path; // relative to the repo URL: dists/bullseye/main/binary-amd64/Packages.xz
    Checksum checksum;
    std::uint64_t size = 0;
    bool operator==(const LockedMetadata&) const = default;
};

struct LockedRepo {
    std::string name;
    std::string type; // deb, rpm-md
    std::string url;
    std::string suite; // deb
    std::vector<std::string> components;
    int priority = 500;
    std::vector<LockedMetadata> metadata;      // the signed index and the package lists resolved from
    std::vector<std::string> include_packages; // the recipe's include-packages (empty: every package)
    bool operator==(const LockedRepo&) const = default;
};

struct Lock {
    static constexpr int current_version = 1;
    int version = current_version;
    std::string recipe_name;
    std::string recipe_digest; // the whole merged recipe
    std::string inputs_digest; // what resolution depends on: format, arch, repos, packages, exclude, prefer, weak-deps
    std::string format;
    std::string arch;
    std::int64_t source_date_epoch = 0;
    std::vector<LockedRepo> repos;
    std::vector<LockedPackage> packages; // sorted by name, then arch

    const LockedPackage* find(const std::string& name) const;
    nlohmann::json to_json() const;
    bool operator==(const Lock&) const = default;
};

// Reads a lockfile; errors name the file and, for JSON syntax, line and column. Exit code 2.
Lock read_lock(const std::filesystem::path& path);
Lock lock_from_json(const nlohmann::json& json, const std::string& file);
// Writes atomically: a crash leaves the old lock or the new one, never half of one.
void write_lock(const Lock& lock, const std::filesystem::path& path);
std::string lock_text(const Lock& lock);

struct PackageChange {
    std::string name;
    std::string arch;
    std::string old_version; // empty when added
    std::string new_version; // empty when removed
};

struct LockDiff {
    std::vector<PackageChange> added, removed, upgraded, downgraded, changed; // changed: same version, other checksum
    bool empty() const {
        return added.empty() && removed.empty() && upgraded.empty() && downgraded.empty() && changed.empty();
    }
};

// Compares package sets, versions compared the way the lock's format orders them (dpkg or rpm).
LockDiff diff_locks(const Lock& before, const Lock& after);
std::string format_diff(const LockDiff& diff);

} // namespace imgbuild::resolve
