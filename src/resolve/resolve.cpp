// The resolve stage's entry point: fetch and verify metadata, load the pool, solve (or check a recipe's
// lock against the repos), and describe the result as a Lock.

#include "imgbuild/resolve/resolve.hpp"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/timer.hpp"
#include "metadata.hpp"
#include "pool.hpp"
#include "solve.hpp"

namespace imgbuild::resolve {
namespace {

using json = nlohmann::json;

std::vector<PackageRequest> requests(const recipe::Recipe& recipe, const char* key) {
    std::vector<PackageRequest> result;
    const auto& list = recipe.json().value(key, json::array());
    for (std::size_t i = 0; i < list.size(); ++i)
        result.push_back(
            {list[i].get<std::string>(), recipe.sources().value(json::json_pointer("/" + std::string(key)) / i)});
    return result;
}

// rpm's [epoch:]version-release apart, for the lock.
void split_rpm_version(LockedPackage& package) {
    std::string evr = package.version;
    auto colon = evr.find(':');
    if (colon != std::string::npos && colon > 0 &&
        evr.substr(0, colon).find_first_not_of("0123456789") == std::string::npos) {
        package.epoch = std::stoll(evr.substr(0, colon));
        evr = evr.substr(colon + 1);
    } else {
        package.epoch = 0;
    }
    auto dash = evr.rfind('-');
    package.upstream_version = evr.substr(0, dash);
    if (dash != std::string::npos) package.release = evr.substr(dash + 1);
}

LockedPackage locked_package(const PackagePool& pool, Id id) {
    Pool* p = pool.get();
    Solvable* s = p->solvables + id;
    const RepoMetadata& repo = pool.repo_of(id);
    LockedPackage package;
    package.name = pool_id2str(p, s->name);
    package.version = pool_id2str(p, s->evr);
    package.arch = pool_id2str(p, s->arch);
    package.repo = repo.spec.name;
    const char* location = solvable_lookup_location(s, nullptr);
    package.url = repo.spec.url + "/" + (location ? location : "");
    Id type = 0;
    const char* checksum = solvable_lookup_checksum(s, SOLVABLE_CHECKSUM, &type);
    auto digest = type ? digest_type(solv_chksum_type2str(type)) : std::nullopt;
    if (!checksum || !digest)
        throw ResolveError("Failed to lock {}: repo '{}' gives it no checksum", pool.describe(id), repo.spec.name);
    package.checksum = Checksum{*digest, checksum};
    package.size = solvable_lookup_num(s, SOLVABLE_DOWNLOADSIZE, 0);
    package.installed_size = solvable_lookup_num(s, SOLVABLE_INSTALLSIZE, 0);
    if (pool.format() == "deb") {
        package.essential = pool.essential(package.name);
        package.priority = pool.priority(package.name);
    } else {
        split_rpm_version(package);
    }
    return package;
}

// SOURCE_DATE_EPOCH from the environment when set, else the newest repository date, so a build from
// the same metadata gets the same timestamps.
std::int64_t source_date_epoch(const std::vector<RepoMetadata>& repos) {
    if (const char* env = std::getenv("SOURCE_DATE_EPOCH"); env && *env) {
        char* end = nullptr;
        long long value = std::strtoll(env, &end, 10);
        if (*end == '\0' && value >= 0) return value;
        throw UsageError("SOURCE_DATE_EPOCH must be a number of seconds, not '{}'", env);
    }
    std::int64_t newest = 0;
    for (const auto& repo : repos) newest = std::max(newest, repo.date);
    return newest;
}

std::string digest_of(const json& value) { return "sha256:" + sha256_hex(value.dump()); }

} // namespace

std::string recipe_digest(const recipe::Recipe& recipe) { return digest_of(recipe.canonical_json()); }

std::string inputs_digest(const recipe::Recipe& recipe) {
    json canonical = recipe.canonical_json();
    json inputs = json::object();
    for (const char* key : {"format", "arch", "repos", "packages", "exclude", "prefer", "weak-deps"})
        if (canonical.contains(key)) inputs[key] = canonical[key];
    return digest_of(inputs);
}

Lock resolve(const recipe::Recipe& recipe, const ResolveOptions& options) {
    const json& document = recipe.json();
    if (recipe.is_profile())
        throw UsageError("'{}' is a profile (it has no name:); resolve a recipe that includes it",
                         recipe.path().string());

    MetadataOptions metadata_options{options.cache_dir, options.offline, options.parallel};
    std::vector<RepoMetadata> metadata;
    {
        ScopedTimer timer("repository metadata");
        metadata = fetch_metadata(repo_specs(recipe), metadata_options);
    }
    std::string format = document.value("format", "deb");
    std::string arch = recipe.arch();
    PackagePool pool(format, arch);
    {
        ScopedTimer timer("package pool");
        for (const auto& repo : metadata) pool.add(repo, metadata_options);
        pool.prepare(metadata_options);
    }

    Lock lock;
    std::vector<Id> ids;
    bool strict = document.contains("lock") && !options.previous;
    if (strict) {
        std::filesystem::path lock_path = document.at("lock").get<std::string>();
        Lock locked = read_lock(lock_path);
        std::string shown = readable_path(lock_path);
        if (locked.inputs_digest != inputs_digest(recipe))
            throw ResolveError("Failed to use the lock '{}': it was made for other packages or repos than the recipe's "
                               "(run 'imgbuild lock {}' to lock them again)",
                               shown, recipe.path().string());
        ids = find_locked(pool, locked, shown);
        log::info("the repos offer every package of {} ({} packages)", shown, ids.size());
        return locked;
    }

    SolveInput input;
    input.install = requests(recipe, "packages");
    input.exclude = requests(recipe, "exclude");
    input.prefer = requests(recipe, "prefer");
    input.weak_deps = document.value("weak-deps", false);
    if (options.previous) {
        input.keep = options.previous;
        for (const auto& name : options.update) {
            bool asked =
                std::any_of(input.install.begin(), input.install.end(), [&](const auto& r) { return r.spec == name; });
            if (!options.previous->find(name) && !asked)
                throw UsageError("cannot update '{}': it is not in the lock (nor in the recipe's packages)", name);
            input.update.insert(name);
        }
    }
    {
        ScopedTimer timer("solving");
        ids = solve(pool, input);
    }

    lock.recipe_name = recipe.name();
    lock.recipe_digest = recipe_digest(recipe);
    lock.inputs_digest = inputs_digest(recipe);
    lock.format = format;
    lock.arch = arch;
    lock.source_date_epoch = source_date_epoch(metadata);
    for (const auto& repo : metadata) {
        LockedRepo locked{repo.spec.name,     repo.spec.type, repo.spec.url, repo.spec.suite, {},
                          repo.spec.priority, {repo.index}};
        if (repo.spec.type == "deb") locked.components = repo.spec.components;
        for (const auto& [pattern, where] : repo.spec.include_packages) locked.include_packages.push_back(pattern);
        for (const auto& file : repo.files)
            if (file.kind != "filelists" || std::filesystem::exists(file.cached))
                locked.metadata.push_back(LockedMetadata{file.path, file.checksum, file.size});
        lock.repos.push_back(std::move(locked));
    }
    auto bootstrap = format == "deb" ? bootstrap_set(pool, ids) : std::set<Id>{};
    for (Id id : ids) {
        lock.packages.push_back(locked_package(pool, id));
        lock.packages.back().bootstrap = bootstrap.count(id) > 0;
    }
    std::sort(lock.packages.begin(), lock.packages.end(), [](const LockedPackage& a, const LockedPackage& b) {
        return std::tie(a.name, a.arch) < std::tie(b.name, b.arch);
    });
    return lock;
}

} // namespace imgbuild::resolve
