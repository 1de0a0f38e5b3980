#pragma once
// Turning a recipe's package requests into libsolv jobs and solving them.

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "imgbuild/core/location.hpp"
#include "imgbuild/resolve/lock.hpp"
#include "pool.hpp"

namespace imgbuild::resolve {

struct PackageRequest {
    std::string spec; // a name, glob, or "name >= version" as the recipe writes it
    Location where;
};

struct SolveInput {
    std::vector<PackageRequest> install;
    std::vector<PackageRequest> exclude;
    std::vector<PackageRequest> prefer;
    // kernel.package: installed like packages (it brings the image's kernel); a name no repo has is
    // reported at its own place in the recipe.
    std::optional<PackageRequest> kernel;
    bool weak_deps = false;
    // lock --update: favour the packages of `keep` as locked, except those named in `update`.
    const Lock* keep = nullptr;
    std::set<std::string> update;
};

// The packages to install (libsolv solvable ids), or ResolveError with libsolv's problems and their
// possible solutions, each job named by where the recipe asked for it.
std::vector<Id> solve(const PackagePool& pool, const SolveInput& input);

// Debian: the Essential packages among `installed` and everything they need, transitively (what must
// be unpacked before the root's own dpkg can run).
std::set<Id> bootstrap_set(const PackagePool& pool, const std::vector<Id>& installed);

// The pool's solvable for each package of `lock` (same name, version, arch and checksum), checked to
// form a complete set; ResolveError naming every locked package the repos no longer offer.
std::vector<Id> find_locked(const PackagePool& pool, const Lock& lock, const std::string& lock_file);

} // namespace imgbuild::resolve
