// The pipeline as a flat list of stage calls, each with why it is there and a timer.

#include "imgbuild/pipeline/pipeline.hpp"

#include <fmt/format.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/timer.hpp"
#include "imgbuild/install/install.hpp"
#include "imgbuild/resolve/resolve.hpp"

namespace imgbuild::pipeline {
namespace {

namespace fs = std::filesystem;

fs::path partial_path(const fs::path& dir) { return fs::path(dir.string() + ".partial"); }

} // namespace

resolve::Lock lock_for(const recipe::Recipe& recipe, const Context& context) {
    ScopedTimer timer("resolve");
    return resolve::resolve(recipe,
                            resolve::ResolveOptions{context.cache_dir, context.offline, context.jobs, nullptr, {}});
}

fetch::FetchResult fetch_packages(const resolve::Lock& lock, const Context& context) {
    auto result =
        fetch::fetch(lock, fetch::FetchOptions{context.cache_dir, context.offline, context.jobs, context.progress});
    log::info("fetched {} packages ({:.1f} MiB) in {:.1f} s: {} downloaded ({:.1f} MiB), {} from the cache",
              lock.packages.size(), static_cast<double>(result.bytes) / (1 << 20), result.seconds, result.downloaded,
              static_cast<double>(result.downloaded_bytes) / (1 << 20), result.cached);
    return result;
}

void build_rootfs(const recipe::Recipe& recipe, const fs::path& dir, const Context& context) {
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_empty(dir, ec))
        throw UsageError("Failed to build a root filesystem in '{}': it exists and is not empty", dir.string());
    fs::path partial = partial_path(dir);
    if (fs::exists(partial, ec)) {
        log::info("removing {}, left by an interrupted run", partial.string());
        fs::remove_all(partial);
    }

    // Which packages: the recipe's lock, or a fresh resolve.
    auto lock = lock_for(recipe, context);
    // Every package verified in the cache before anything is installed.
    auto fetched = fetch_packages(lock, context);
    // Install into a directory beside the target, renamed into place when complete; removed on failure.
    fs::create_directories(partial);
    struct RemoveUnlessDone {
        const fs::path& path;
        bool done = false;
        ~RemoveUnlessDone() {
            std::error_code error;
            if (!done) fs::remove_all(path, error);
        }
    } cleanup{partial};
    install::InstallOptions options;
    options.docs = recipe.json().value("docs", true);
    options.source_date_epoch = lock.source_date_epoch;
    auto keys = resolve::package_keys(recipe, context.cache_dir);
    options.rpm_keys = keys.keys;
    options.rpm_require_signatures = !keys.keys.empty() && keys.all_checked;
    options.on_output = [](std::string_view line) { log::debug("| {}", line); };
    options.deb_cache = context.cache_dir / "debs";
    options.parallel = context.jobs;
    {
        ScopedTimer timer("install");
        auto result = install::install(lock, fetched.files, partial, options);
        log::info("installed {} packages in {:.1f} s", result.packages, result.seconds);
    }
    if (fs::exists(dir, ec)) fs::remove(dir);
    fs::rename(partial, dir);
    cleanup.done = true;
}

} // namespace imgbuild::pipeline
