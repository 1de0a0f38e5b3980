// The installed-set cache's policy: which cached set a root starts from (the same set, or the nearest
// one upgraded by the root's dpkg, the way a node upgrades), when to install afresh, and what is
// recorded with a stored set so a later lock can find it.

#include "install_cache.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "imgbuild/commit/metadata.hpp"
#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/resolve/resolve.hpp"
#include "inputs.hpp"

namespace imgbuild::pipeline {

namespace fs = std::filesystem;

using json = nlohmann::json;

namespace {

// The installed package sets the tree cache keeps (least recently used dropped first). Sets of
// neighbouring builds share nearly all objects, so each one more costs little disk.
constexpr std::size_t installed_sets_kept = 4;

install::InstallOptions install_options(const recipe::Recipe& recipe, const resolve::Lock& lock,
                                        const Context& context) {
    install::InstallOptions options;
    options.docs = recipe.docs();
    options.source_date_epoch = lock.source_date_epoch;
    auto keys = resolve::package_keys(recipe, context.cache_dir);
    options.rpm_keys = keys.keys;
    options.rpm_require_signatures = !keys.keys.empty() && keys.all_checked;
    options.on_output = [](std::string_view line) { log::debug("| {}", line); };
    options.deb_cache = context.cache_dir / "debs";
    options.parallel = context.jobs;
    return options;
}

// The nearest cached set checked out into `dir` and upgraded to the lock. False, with `dir` gone, when
// no set is near enough or the upgrade failed.
bool upgrade_nearest_set(const resolve::Lock& lock, const install::InstallOptions& options, const fs::path& cache_repo,
                         const fs::path& dir, commit::CheckoutMode mode, const Context& context) {
    if (lock.format != "deb") return false;
    std::string settings = sha256_hex(install_settings(lock, options).dump());
    auto nearest = nearest_set(commit::cached_trees(cache_repo, "install"), settings, lock);
    if (!nearest) return false;
    std::string base = nearest->ref.substr(nearest->ref.rfind('/') + 1, 12);
    std::string what = compare_inputs({{"recipe", json::object()}, {"packages", nearest->lines}},
                                      {{"recipe", json::object()}, {"packages", package_lines(lock)}})
                           .describe_packages();
    log::info("upgrading the cached set {}: {}", base, what);
    try {
        if (!context.stage("install: check out the nearest cached set",
                           [&] { return commit::checkout_cached(cache_repo, nearest->ref, dir, mode); }))
            return false;
        resolve::Lock changed = lock;
        changed.packages.clear();
        for (std::size_t i : nearest->changes.unpacked) changed.packages.push_back(lock.packages[i]);
        std::vector<fs::path> files;
        if (!changed.packages.empty()) {
            auto fetched = fetch_packages(changed, context);
            files = std::move(fetched.files);
            note(context, "fetch", "ran",
                 fmt::format("{} changed packages: {} downloaded, {} from the cache", changed.packages.size(),
                             fetched.downloaded, fetched.cached));
        }
        auto upgrade_options = options;
        upgrade_options.shared_files = mode == commit::CheckoutMode::hardlinks;
        auto result = context.stage(
            "install: upgrade", [&] { return install::upgrade(lock, nearest->changes, files, dir, upgrade_options); });
        log::info("upgraded the installed set in {:.1f} s ({} removed, {} unpacked)", result.seconds,
                  nearest->changes.removed.size(), nearest->changes.unpacked.size());
    } catch (const Error& e) {
        // dpkg or a script failed, or the copy-on-write view could not be made: a fresh install may not.
        log::warn("upgrading the cached set {} failed, so every package is installed afresh: {}", base, e.what());
        fs::remove_all(dir);
        return false;
    }
    note(context, "install", "upgraded", fmt::format("the cached set {} by dpkg: {}", base, what));
    return true;
}

// Every package fetched (verified in the cache) before anything is installed, then installed at `dir`.
void install_fresh(const resolve::Lock& lock, const install::InstallOptions& options, const fs::path& dir,
                   const Context& context, const InputChanges* changes) {
    auto fetched = fetch_packages(lock, context);
    note(context, "fetch", "ran", fmt::format("{} downloaded, {} from the cache", fetched.downloaded, fetched.cached));
    fs::create_directories(dir);
    context.stage("install", [&] {
        auto result = install::install(lock, fetched.files, dir, options);
        log::info("installed {} packages in {:.1f} s", result.packages, result.seconds);
    });
    std::string why = changes && !changes->first ? changes->describe({"docs", "repos"}, false) : "";
    note(context, "install", "built", why.empty() ? "the set is not in the cache" : why);
}

} // namespace

std::optional<NearestSet> nearest_set(const std::vector<commit::CachedTree>& trees, const std::string& settings,
                                      const resolve::Lock& lock) {
    std::optional<NearestSet> nearest;
    for (const auto& tree : trees) {
        auto recorded = tree.metadata.find(std::string(commit::key::install_settings));
        auto packages = tree.metadata.find(std::string(commit::key::install_packages));
        if (recorded == tree.metadata.end() || recorded->second != settings || packages == tree.metadata.end())
            continue;
        json lines = json::parse(packages->second, nullptr, false);
        if (!lines.is_array()) continue;
        auto installed = lines.get<std::vector<std::string>>();
        auto candidate = install::set_changes(installed, lock);
        if (!candidate.removed.empty()) continue;
        if (!nearest || candidate.size() < nearest->changes.size())
            nearest = NearestSet{tree.ref, std::move(installed), std::move(candidate)};
    }
    if (!nearest || nearest->changes.size() == 0 ||
        nearest->changes.size() > std::max<std::size_t>(8, lock.packages.size() / 5))
        return std::nullopt;
    return nearest;
}

Installed installed_root(const recipe::Recipe& recipe, const resolve::Lock& lock, const fs::path& dir,
                         const Context& context, bool shared, const InputChanges* changes) {
    auto options = install_options(recipe, lock, context);
    fs::path cache_repo = context.cache_dir / "ostree";
    std::string key = install_key(lock, options);
    std::string cached_ref = "imgbuild/cache/install/" + key;
    auto mode = shared ? commit::CheckoutMode::hardlinks : commit::CheckoutMode::copies;
    // The very set, from the cache.
    if (context.stage("install: check out the cached set",
                      [&] { return commit::checkout_cached(cache_repo, cached_ref, dir, mode); })) {
        log::info("installed {} packages from the cache (set {})", lock.packages.size(), key.substr(0, 12));
        note(context, "fetch", "skipped", "the installed set is cached");
        note(context, "install", "reused",
             fmt::format("the set {} of {} packages", key.substr(0, 12), lock.packages.size()));
        return Installed::reused;
    }
    // Else the nearest cached set upgraded, else a fresh install.
    bool upgraded = upgrade_nearest_set(lock, options, cache_repo, dir, mode, context);
    if (!upgraded) install_fresh(lock, options, dir, context, changes);
    try {
        // Shared: the root's files become the cache's objects (the commit then knows them by their
        // inodes); else the cache gets copies and the root stays the caller's. The set's settings and
        // packages are recorded for upgrading it to a later lock.
        context.stage("install: into the tree cache", [&] {
            commit::store_cached(
                cache_repo, cached_ref, dir, context.jobs, installed_sets_kept, shared,
                {{std::string(commit::key::install_settings), sha256_hex(install_settings(lock, options).dump())},
                 {std::string(commit::key::install_packages), package_lines(lock).dump()}});
        });
    } catch (const Error& e) {
        log::warn("the installed packages are not cached: {}", e.what());
    }
    return upgraded ? Installed::upgraded : Installed::installed;
}

} // namespace imgbuild::pipeline
