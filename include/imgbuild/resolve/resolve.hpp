#pragma once
// The resolve stage: a recipe's repos and package list → a Lock, with libsolv.

#include <filesystem>
#include <string>
#include <vector>

#include "imgbuild/core/error.hpp"
#include "imgbuild/recipe/recipe.hpp"
#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::resolve {

// The package set cannot be made: unknown packages, unsatisfiable dependencies, a lock that does not
// match the repos. Exit code 2: the recipe (or lock) asks for something that cannot be.
class ResolveError : public Error {
public:
    using Error::Error;
    ExitCode exit_code() const noexcept override { return ExitCode::usage; }
};

struct ResolveOptions {
    std::filesystem::path cache_dir;
    bool offline = false; // cached metadata only
    unsigned parallel = 4;
    // lock --update: keep `previous` as it is except for these packages (and what they need).
    const Lock* previous = nullptr;
    std::vector<std::string> update;
};

// Resolves the recipe (or, when it names a `lock:`, checks that lock against the repos).
Lock resolve(const recipe::Recipe& recipe, const ResolveOptions& options);

// The keys that verify the recipe's rpm packages (rpm-md repos' gpgkey, from the cache when given by
// URL), and whether every repo has one with gpgcheck on.
struct PackageKeys {
    std::vector<std::filesystem::path> keys;
    bool all_checked = true;
};
PackageKeys package_keys(const recipe::Recipe& recipe, const std::filesystem::path& cache_dir);

// The digests a lock records: of the whole recipe, and of what resolution depends on.
std::string recipe_digest(const recipe::Recipe& recipe);
std::string inputs_digest(const recipe::Recipe& recipe);

} // namespace imgbuild::resolve
