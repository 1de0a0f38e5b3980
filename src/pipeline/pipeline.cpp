// The pipeline as a flat list of stage calls, each with why it is there and a timer.

#include "imgbuild/pipeline/pipeline.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <future>
#include <optional>
#include <regex>

#include <fmt/format.h>

#include "imgbuild/commit/commit.hpp"
#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/interrupt.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/timer.hpp"
#include "imgbuild/image/image.hpp"
#include "imgbuild/install/install.hpp"
#include "imgbuild/resolve/resolve.hpp"
#include "imgbuild/verify/verify.hpp"
#include "imgbuild/version.hpp"

namespace imgbuild::pipeline {
namespace {

namespace fs = std::filesystem;

using json = nlohmann::json;

fs::path partial_path(const fs::path& dir) { return fs::path(dir.string() + ".partial"); }

// Removes the directory unless the work in it completed.
std::string regex_escape(const std::string& text) {
    static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
    return std::regex_replace(text, special, R"(\$&)");
}

// The work directory of a commit: CACHE/work/<name>-<pid>. Those of processes that are gone (killed
// builds) are removed first (sweep_leftovers): each holds a whole root.
fs::path work_dir(const Context& context, const std::string& name) {
    sweep_leftovers(context);
    return context.cache_dir / "work" / fmt::format("{}-{}", name, ::getpid());
}

std::string lock_digest(const resolve::Lock& lock) { return "sha256:" + sha256_hex(resolve::lock_text(lock)); }

// "name version arch checksum" per locked package: what the inputs and the install key hash.
json package_lines(const resolve::Lock& lock) {
    json lines = json::array();
    for (const auto& package : lock.packages)
        lines.push_back(
            fmt::format("{} {} {} {}", package.name, package.version, package.arch, package.checksum.str()));
    return lines;
}

void note(const Context& context, std::string stage, std::string action, std::string why) {
    log::debug("{}: {}{}{}", stage, action, why.empty() ? "" : ": ", why);
    if (context.notes) context.notes->push_back({std::move(stage), std::move(action), std::move(why)});
}

// The installed package sets the tree cache keeps (least recently used dropped first). Sets of
// neighbouring builds share nearly all objects, so each one more costs little disk.
constexpr std::size_t installed_sets_kept = 4;
// Bump when the install stage makes other trees from the same inputs.
constexpr int install_cache_version = 2;

// A version names the build's directory (OUTDIR/builds/<version>): whatever the recipe validation let
// through (a --set, a future placeholder), it must be one plain path component that is not a name the
// bundle uses itself.
std::string checked_version(const recipe::Recipe& recipe, std::string version) {
    static const std::regex plain("[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}");
    if (!std::regex_match(version, plain) || version == "latest")
        throw RecipeError({{recipe.sources().value(json::json_pointer("/version")),
                            fmt::format("the version '{}' cannot name a build directory: it must be 1 to 128 letters, "
                                        "digits and '.', '_', '+', '~', '-', start with a letter or digit, and not "
                                        "be 'latest'",
                                        version)}});
    return version;
}

} // namespace

void sweep_leftovers(const Context& context) {
    // Roots and their copy-on-write views (mounts), the image and test stages' work directories.
    static const std::regex work(R"(.*-([0-9]+)(\.partial)?(\.view)?)");
    interrupt::sweep_dead_leftovers(context.cache_dir / "work", work);
    // The disk the image stage makes in memory (src/image/image.cpp).
    static const std::regex disk(R"(imgbuild-([0-9]+)-disk\.raw)");
    interrupt::sweep_dead_leftovers("/dev/shm", disk);
    // Half-written cache entries: AtomicFile's temporary names, the qcow2 cache's, the repacked debs'.
    static const std::regex temp(R"(\..*\.tmp-([0-9]+)-[0-9a-f]{8}|\..*\.([0-9]+)\.qcow2|.*\.data-([0-9]+)-[0-9]+)");
    for (const char* dir : {"debs", "image", "initramfs", "packages"})
        interrupt::sweep_dead_leftovers(context.cache_dir / dir, temp);
}

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

std::string build_version(const recipe::Recipe& recipe, std::int64_t epoch, const std::vector<std::string>& history) {
    std::string version = recipe.json().value("version", "{date}.{n}");
    std::time_t time = static_cast<std::time_t>(epoch);
    std::tm day{};
    gmtime_r(&time, &day);
    char date[16];
    std::strftime(date, sizeof date, "%Y%m%d", &day);
    auto replace_all = [](std::string text, const std::string& from, const std::string& to) {
        for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
            text.replace(at, from.size(), to);
        return text;
    };
    version = replace_all(version, "{date}", date);
    if (version.find("{n}") == std::string::npos) return checked_version(recipe, version);
    // The pattern of this date's versions, {n} a number; the next n follows the highest.
    std::string pattern = regex_escape(version);
    pattern = replace_all(pattern, regex_escape("{n}"), "([0-9]{1,9})"); // longer ones are not ours
    std::regex same_day(pattern);
    long next = 0;
    for (const auto& old : history) {
        std::smatch match;
        if (std::regex_match(old, match, same_day)) next = std::max(next, std::stol(match[1]) + 1);
    }
    return checked_version(recipe, replace_all(version, "{n}", std::to_string(next)));
}

json build_inputs(const recipe::Recipe& recipe, const resolve::Lock& lock) {
    json inputs = {{"recipe", recipe.canonical_json()},
                   {"imgbuild", fmt::format("{} {}", version, git_revision)},
                   {"files", json::array()}};
    inputs["packages"] = package_lines(lock);
    auto base = fs::absolute(recipe.path()).parent_path().lexically_normal();
    for (const auto& path : recipe.input_paths())
        inputs["files"].push_back({path.lexically_relative(base).string(), tree_digest(path)});
    return inputs;
}

std::string build_inputs_digest(const recipe::Recipe& recipe, const resolve::Lock& lock) {
    return "sha256:" + sha256_hex(build_inputs(recipe, lock).dump());
}

namespace {

// What the install reads besides the packages. The lock's repository dates (SOURCE_DATE_EPOCH) are
// left out, as from the build's inputs digest.
json install_settings(const resolve::Lock& lock, const install::InstallOptions& options) {
    json inputs = {{"version", install_cache_version},
                   {"imgbuild", fmt::format("{} {}", version, git_revision)},
                   {"format", lock.format},
                   {"arch", lock.arch},
                   {"docs", options.docs},
                   {"rpm-dbpath", options.rpm_dbpath},
                   {"rpm-signatures", options.rpm_require_signatures},
                   {"rpm-keys", json::array()}};
    for (const auto& key : options.rpm_keys) inputs["rpm-keys"].push_back(sha256_hex(read_file(key)));
    return inputs;
}

} // namespace

std::string install_key(const resolve::Lock& lock, const install::InstallOptions& options) {
    json inputs = install_settings(lock, options);
    inputs["packages"] = package_lines(lock);
    return sha256_hex(inputs.dump());
}

namespace {

// The cached set nearest the lock (the fewest packages to add or change, none to remove) among those
// installed with the same settings, checked out into `partial` and upgraded to the lock by the root's
// dpkg, the way a node upgrades. False, with `partial` gone, when no set is near enough (a fresh install
// is then about as fast and starts clean) or the upgrade failed.
bool upgrade_nearest_set(const resolve::Lock& lock, const install::InstallOptions& options, const fs::path& cache_repo,
                         const fs::path& partial, commit::CheckoutMode mode, const Context& context) {
    if (lock.format != "deb") return false;
    std::string settings = sha256_hex(install_settings(lock, options).dump());
    std::optional<commit::CachedTree> nearest;
    json nearest_lines;
    install::SetChanges changes;
    for (auto& tree : commit::cached_trees(cache_repo, "install")) {
        auto recorded = tree.metadata.find("imgbuild.install.settings");
        auto packages = tree.metadata.find("imgbuild.install.packages");
        if (recorded == tree.metadata.end() || recorded->second != settings || packages == tree.metadata.end())
            continue;
        json lines = json::parse(packages->second, nullptr, false);
        if (!lines.is_array()) continue;
        auto candidate = install::set_changes(lines.get<std::vector<std::string>>(), lock);
        if (!candidate.removed.empty()) continue;
        if (!nearest || candidate.size() < changes.size()) {
            nearest = std::move(tree);
            nearest_lines = std::move(lines);
            changes = std::move(candidate);
        }
    }
    if (!nearest || changes.size() == 0 || changes.size() > std::max<std::size_t>(8, lock.packages.size() / 5))
        return false;
    std::string base = nearest->ref.substr(nearest->ref.rfind('/') + 1, 12);
    std::string what = compare_inputs({{"recipe", json::object()}, {"packages", nearest_lines}},
                                      {{"recipe", json::object()}, {"packages", package_lines(lock)}})
                           .describe_packages();
    log::info("upgrading the cached set {}: {}", base, what);
    try {
        {
            ScopedTimer timer("install: check out the nearest cached set");
            if (!commit::checkout_cached(cache_repo, nearest->ref, partial, mode)) return false;
        }
        resolve::Lock changed = lock;
        changed.packages.clear();
        for (std::size_t i : changes.unpacked) changed.packages.push_back(lock.packages[i]);
        std::vector<fs::path> files;
        if (!changed.packages.empty()) {
            auto fetched = fetch_packages(changed, context);
            files = std::move(fetched.files);
            note(context, "fetch", "ran",
                 fmt::format("{} changed packages: {} downloaded, {} from the cache", changed.packages.size(),
                             fetched.downloaded, fetched.cached));
        }
        ScopedTimer timer("install: upgrade");
        auto upgrade_options = options;
        upgrade_options.shared_files = mode == commit::CheckoutMode::hardlinks;
        auto result = install::upgrade(lock, changes, files, partial, upgrade_options);
        log::info("upgraded the installed set in {:.1f} s ({} removed, {} unpacked)", result.seconds,
                  changes.removed.size(), changes.unpacked.size());
    } catch (const Error& e) {
        // dpkg or a script failed, or the copy-on-write view could not be made: a fresh install may not.
        log::warn("upgrading the cached set {} failed, so every package is installed afresh: {}", base, e.what());
        fs::remove_all(partial);
        return false;
    }
    note(context, "install", "upgraded", fmt::format("the cached set {} by dpkg: {}", base, what));
    return true;
}

} // namespace

std::string ref_of(const recipe::Recipe& recipe) {
    const json& document = recipe.json();
    if (document.contains("ostree") && document["ostree"].contains("ref")) return document["ostree"]["ref"];
    return fmt::format("imgbuild/{}/{}", document.value("name", "image"), document.value("arch", "x86_64"));
}

customize::CustomizeResult build_rootfs(const recipe::Recipe& recipe, const resolve::Lock& lock, const fs::path& dir,
                                        const Context& context, RootfsStage stage, const std::string& version,
                                        bool shared, const InputChanges* changes) {
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_empty(dir, ec))
        throw UsageError("Failed to build a root filesystem in '{}': it exists and is not empty", dir.string());
    fs::path partial = partial_path(dir);
    if (fs::exists(fs::symlink_status(partial, ec))) {
        log::info("removing {}, left by an interrupted run", partial.string());
        remove_inside(fs::absolute(partial).parent_path(), partial);
    }

    install::InstallOptions options;
    options.docs = recipe.json().value("docs", true);
    options.source_date_epoch = lock.source_date_epoch;
    auto keys = resolve::package_keys(recipe, context.cache_dir);
    options.rpm_keys = keys.keys;
    options.rpm_require_signatures = !keys.keys.empty() && keys.all_checked;
    options.on_output = [](std::string_view line) { log::debug("| {}", line); };
    options.deb_cache = context.cache_dir / "debs";
    options.parallel = context.jobs;

    // The installed packages: from the tree cache when it has this set, else installed and added to it.
    RemoveOnExit cleanup{partial};
    fs::path cache_repo = context.cache_dir / "ostree";
    std::string key = install_key(lock, options);
    std::string cached_ref = "imgbuild/cache/install/" + key;
    auto mode = shared ? commit::CheckoutMode::hardlinks : commit::CheckoutMode::copies;
    bool reused = false;
    {
        ScopedTimer timer("install: check out the cached set");
        reused = commit::checkout_cached(cache_repo, cached_ref, partial, mode);
    }
    if (reused) {
        log::info("installed {} packages from the cache (set {})", lock.packages.size(), key.substr(0, 12));
        note(context, "fetch", "skipped", "the installed set is cached");
        note(context, "install", "reused",
             fmt::format("the set {} of {} packages", key.substr(0, 12), lock.packages.size()));
    } else {
        if (!upgrade_nearest_set(lock, options, cache_repo, partial, mode, context)) {
            // Every package verified in the cache before anything is installed.
            auto fetched = fetch_packages(lock, context);
            note(context, "fetch", "ran",
                 fmt::format("{} downloaded, {} from the cache", fetched.downloaded, fetched.cached));
            fs::create_directories(partial);
            {
                ScopedTimer timer("install");
                auto result = install::install(lock, fetched.files, partial, options);
                log::info("installed {} packages in {:.1f} s", result.packages, result.seconds);
            }
            std::string why = changes && !changes->first ? changes->describe({"docs", "repos"}, false) : "";
            note(context, "install", "built", why.empty() ? "the set is not in the cache" : why);
        }
        try {
            // Shared: the root's files become the cache's objects (the commit then knows them by
            // their inodes); else the cache gets copies and the root stays the caller's. The set's
            // settings and packages are recorded for upgrading it to a later lock.
            ScopedTimer timer("install: into the tree cache");
            commit::store_cached(cache_repo, cached_ref, partial, context.jobs, installed_sets_kept, shared,
                                 {{"imgbuild.install.settings", sha256_hex(install_settings(lock, options).dump())},
                                  {"imgbuild.install.packages", package_lines(lock).dump()}});
        } catch (const Error& e) {
            log::warn("the installed packages are not cached: {}", e.what());
        }
    }
    // The recipe's tuning, the kernel and its initramfs, ostree's layout.
    customize::CustomizeResult customized;
    if (stage == RootfsStage::customize) {
        customize::CustomizeOptions customize_options;
        customize_options.cache_dir = context.cache_dir;
        customize_options.version = version;
        customize_options.source_date_epoch = lock.source_date_epoch;
        customize_options.on_output = [](std::string_view line) { log::debug("| {}", line); };
        customize_options.shared_files = shared;
        customized = customize::customize(recipe, partial, customize_options);
        log::info("customized the root{}{}", customized.kernel_version.empty() ? "" : " for kernel ",
                  customized.kernel_version);
        note(context, "customize", "ran", "the recipe's tuning, on every build");
        if (customized.initramfs_built) {
            std::string why = changes && !changes->first ? changes->describe({"initramfs", "kernel"}, false) : "";
            if (customized.initramfs_cached)
                note(context, "initramfs", "reused", "dracut's inputs are the cached image's");
            else
                note(context, "initramfs", "built", why.empty() ? "no cached image for dracut's inputs" : why);
        }
    }
    if (fs::exists(dir, ec)) fs::remove(dir);
    fs::rename(partial, dir);
    cleanup.keep = true;
    return customized;
}

void build_rootfs(const recipe::Recipe& recipe, const fs::path& dir, const Context& context, RootfsStage stage) {
    // Which packages: the recipe's lock, or a fresh resolve.
    auto lock = lock_for(recipe, context);
    build_rootfs(recipe, lock, dir, context, stage, build_version(recipe, lock.source_date_epoch, {}));
}

// The recipe's settings for its images: name, image:, kernel args, the node's remote (its
// verification key: the given public key, else the public half of the signing key), and what the boot
// test checks.
static json image_settings(const recipe::Recipe& recipe, const std::optional<commit::SigningKey>& key) {
    const json& document = recipe.json();
    json settings = {{"name", document.value("name", "image")}, {"image", document.value("image", json::object())}};
    if (document.contains("kernel")) settings["kernel-args"] = document["kernel"].value("args", json::array());
    // What `imgbuild test` checks on a booted node: the tuning in effect and the units' state.
    json units = document.value("units", json::object());
    settings["checks"] = {
        {"sysctl", document.value("sysctl", json::object())},
        {"modules-load", document.value("modules-load", json::array())},
        {"units", {{"enable", units.value("enable", json::array())}, {"mask", units.value("mask", json::array())}}}};
    auto remote_pointer = json::json_pointer("/ostree/remote");
    if (document.contains(remote_pointer)) {
        const json& remote = document.at(remote_pointer);
        json node = {{"name", remote.value("name", "origin")}, {"url", remote.value("url", "")}};
        if (remote.contains("ed25519-public-key")) {
            std::string text = read_file(remote.at("ed25519-public-key").get<std::string>());
            text.erase(text.find_last_not_of(" \t\r\n") + 1);
            node["ed25519-key"] = text;
        } else if (key) {
            node["ed25519-key"] = key->public_base64();
        }
        settings["remote"] = node;
    }
    return settings;
}

CommitOutcome commit_recipe(const recipe::Recipe& recipe, const fs::path& repo, const Context& context, bool force,
                            std::future<void>* published) {
    const json& document = recipe.json();
    CommitOutcome outcome;
    outcome.ref = ref_of(recipe);
    // One run at a time numbers, builds and publishes on this repository; the lock goes with the
    // publishing when that runs in the background.
    auto repo_lock = std::make_shared<FileLock>(
        repo / ".imgbuild.lock", fmt::format("the repository '{}'", repo.string()), context.wait_for_locks);

    // The signing key first: a bad one should fail before minutes of building, naming the recipe line.
    std::optional<commit::SigningKey> key;
    auto key_pointer = json::json_pointer("/ostree/sign/ed25519-key");
    if (document.contains(key_pointer)) {
        try {
            key = commit::read_signing_key(document.at(key_pointer).get<std::string>());
        } catch (const commit::KeyError& e) {
            throw RecipeError({{recipe.sources().value(key_pointer), e.what()}});
        }
    }

    auto lock = lock_for(recipe, context);
    json inputs_json = build_inputs(recipe, lock);
    std::string inputs = "sha256:" + sha256_hex(inputs_json.dump());
    auto head = commit::head(repo, outcome.ref);
    // What changed since the last build on the ref: why a stage cannot reuse what it made then.
    InputChanges changes;
    changes.first = true;
    if (head) {
        auto recorded = head->metadata.find("imgbuild.inputs");
        if (recorded != head->metadata.end())
            changes = compare_inputs(json::parse(recorded->second, nullptr, false), inputs_json);
    }
    note(context, "resolve", "ran",
         fmt::format("{} packages{}", lock.packages.size(),
                     changes.first              ? ""
                     : changes.packages.empty() ? ", the same as the last build"
                                                : ", changed since the last build: " + changes.describe_packages()));
    if (head && !force) {
        auto it = head->metadata.find("imgbuild.inputs-digest");
        if (it != head->metadata.end() && it->second == inputs) {
            log::info("unchanged: {} is already {} (version {}), built from the same inputs", outcome.ref,
                      head->checksum, head->version);
            outcome.checksum = head->checksum;
            outcome.parent = head->parent;
            outcome.version = head->version;
            outcome.unchanged = true;
            note(context, "commit", "reused",
                 fmt::format("{} (version {}) was built from the same inputs", head->checksum.substr(0, 12),
                             head->version));
            return outcome;
        }
    }
    outcome.version = build_version(recipe, lock.source_date_epoch, commit::history_versions(repo, outcome.ref));

    // Earlier imgbuild builds kept a bare-user build repository there; the bare one replaces it.
    if (std::error_code ec; fs::exists(context.cache_dir / "ostree-build", ec)) {
        log::info("removing {}, the build repository of an older imgbuild",
                  (context.cache_dir / "ostree-build").string());
        fs::remove_all(context.cache_dir / "ostree-build", ec);
        fs::remove(context.cache_dir / "ostree-build.lock", ec);
    }
    fs::path root = work_dir(context, document.value("name", "image"));
    RemoveOnExit cleanup{root};
    auto customized =
        build_rootfs(recipe, lock, root, context, RootfsStage::customize, outcome.version, true, &changes);

    commit::CommitOptions options;
    options.repo = repo;
    options.build_repo = context.cache_dir / "ostree";
    options.ref = outcome.ref;
    options.subject = fmt::format("{} {}", document.value("name", "image"), outcome.version);
    options.timestamp = lock.source_date_epoch;
    options.version = outcome.version;
    options.kernel_version = customized.kernel_version;
    options.metadata = {{"imgbuild.recipe", document.value("name", "")},
                        {"imgbuild.recipe-digest", resolve::recipe_digest(recipe)},
                        {"imgbuild.lock-digest", lock_digest(lock)},
                        {"imgbuild.inputs-digest", inputs},
                        {"imgbuild.inputs", inputs_json.dump()},
                        {"imgbuild.format", lock.format},
                        {"imgbuild.arch", lock.arch},
                        {"imgbuild.tool", fmt::format("imgbuild {} (git {})", version, git_revision)}};
    options.metadata["imgbuild.ref"] = outcome.ref;
    // What the image stage needs of the recipe and the lock travels with the commit, so `imgbuild image`
    // works from a repository and a ref alone.
    options.metadata["imgbuild.image"] = image_settings(recipe, key).dump();
    options.metadata["imgbuild.lock"] = resolve::lock_text(lock);
    for (const auto& package : lock.packages)
        options.packages.push_back(fmt::format("{} {} {}", package.name, package.version, package.arch));
    options.sign = key;
    options.static_delta = document.contains("ostree") && document["ostree"].value("static-delta", false);
    options.parallel = context.jobs;
    commit::CommitResult result;
    {
        ScopedTimer timer("commit");
        result = commit::commit_tree(root, options);
    }
    // The root goes with the publishing, off the image stage's way (it is some 12000 files).
    cleanup.keep = true;
    auto finish = [options, result, key, name = document.value("name", ""), version = outcome.version, root,
                   repo_lock]() mutable {
        RemoveOnExit remove_root{root};
        {
            ScopedTimer timer("commit: publish");
            commit::publish(options, result);
        }
        log::info("committed {} {} on {} in {:.1f} s ({} new objects){}", name, version, options.ref, result.seconds,
                  result.objects_written,
                  result.parent.empty() ? "" : fmt::format(", parent {}", result.parent.substr(0, 12)));
        if (key) log::info("signed with the ed25519 key whose public half is {}", key->public_base64());
    };
    // The archive compresses the new objects while the caller goes on (the image stage deploys from
    // the build repository), or now.
    if (published)
        *published = std::async(std::launch::async, std::move(finish));
    else
        finish();
    outcome.checksum = result.checksum;
    outcome.parent = result.parent;
    std::string why = force ? "--force" : changes.describe();
    if (changes.first && !head) why = "the first build on " + outcome.ref;
    note(context, "commit", "built",
         fmt::format("{} ({} new objects){}", result.checksum.substr(0, 12), result.objects_written,
                     why.empty() ? "" : ": " + why));
    return outcome;
}

// Boots the build's images (imgbuild test) and records the result in its manifest.json.
static void test_build(const fs::path& build_dir, const Context& context, const BuildOptions& options,
                       BuildOutcome& outcome) {
    verify::TestOptions test;
    test.target = build_dir;
    test.cache_dir = context.cache_dir;
    test.accel = options.test_accel;
    test.boot_timeout = options.test_boot_timeout;
    auto report = verify::run_test(test);
    outcome.tested = true;
    outcome.test_passed = report.passed;
    note(context, "test", "ran", report.passed ? "every check passed" : "a check failed");
    outcome.test_report = report.to_text();
    fs::path manifest_path = build_dir / "manifest.json";
    json manifest = json::parse(read_file(manifest_path));
    json result = report.to_json();
    result.erase("image");
    result.erase("logs");
    result["logs"] = "test/";
    manifest["test"] = result;
    write_file_atomic(manifest_path, manifest.dump(2) + "\n");
}

static void point_latest(const fs::path& builds, const std::string& version) {
    fs::path link = builds / fmt::format(".latest-{}", ::getpid());
    fs::remove(link);
    fs::create_symlink(version, link);
    fs::rename(link, builds / "latest");
}

BuildOutcome build_recipe(const recipe::Recipe& recipe, const fs::path& outdir, const Context& given,
                          const BuildOptions& build) {
    BuildOutcome outcome;
    Context context = given;
    context.notes = &outcome.notes;
    auto started = std::chrono::steady_clock::now();
    // One build at a time into a bundle: two would number their commits alike and one would drop out of
    // the ref's history. What a killed build left in builds/ is removed now that none can be running.
    FileLock bundle_lock(outdir / ".imgbuild.lock", fmt::format("the output bundle '{}'", outdir.string()),
                         context.wait_for_locks);
    static const std::regex leftover(R"(\..+\.partial-([0-9]+)|\.latest-([0-9]+))");
    interrupt::sweep_dead_leftovers(outdir / "builds", leftover);
    // 1. Everything up to the commit, on the recipe's ref in the bundle's repository.
    std::future<void> published;
    outcome.commit = commit_recipe(recipe, outdir / "repo", context, build.force, &published);
    double compose = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    fs::path builds = outdir / "builds";
    outcome.build_dir = builds / outcome.commit.version;

    // 2. The images of that commit, unless this very commit was imaged already.
    fs::path manifest = outcome.build_dir / "manifest.json";
    if (!build.force && outcome.commit.unchanged && fs::exists(manifest)) {
        auto existing = json::parse(read_file(manifest), nullptr, false);
        if (existing.is_object() && existing.value("commit", "") == outcome.commit.checksum) {
            log::info("unchanged: {} already has the images of {}", outcome.build_dir.string(),
                      outcome.commit.checksum.substr(0, 12));
            outcome.reused = true;
            note(context, "image", "reused", outcome.build_dir.string() + " has the images of this commit");
            if (build.test) {
                const json& test = existing.value("test", json::object());
                if (test.value("passed", false)) {
                    log::info("unchanged: its boot test passed already ({})", outcome.build_dir.string());
                    outcome.tested = outcome.test_passed = true;
                    note(context, "test", "reused", "these images passed their boot test");
                } else {
                    test_build(outcome.build_dir, context, build, outcome);
                    if (outcome.test_passed) point_latest(builds, outcome.commit.version);
                }
            }
            return outcome;
        }
    }
    fs::create_directories(builds);
    fs::path partial = builds / fmt::format(".{}.partial-{}", outcome.commit.version, ::getpid());
    RemoveOnExit cleanup{partial};
    remove_inside(builds, partial);
    image::ImageOptions options;
    options.repo = outdir / "repo";
    options.ref = outcome.commit.checksum;
    options.outdir = partial;
    options.cache_dir = context.cache_dir;
    options.build_repo = context.cache_dir / "ostree";
    options.stage_seconds = {{outcome.commit.unchanged ? "compose (reused)" : "compose", compose}};
    options.jobs = context.jobs;
    auto imaged = image::make_image(options);
    std::string why = outcome.commit.unchanged ? "the build directory had no images of this commit" : "a new commit";
    if (imaged.qcow2_clusters > 0)
        why += fmt::format("; the qcow2 took {} of its {} clusters from the last image", imaged.qcow2_reused,
                           imaged.qcow2_clusters);
    note(context, "image", "built", why);

    // 3. The boot test, on the build before it gets its name.
    if (build.test) test_build(partial, context, build, outcome);

    // 4. The build under its final name once its commit is in the bundle's repository, then
    // builds/latest pointing at it (both renames are atomic).
    if (published.valid()) published.get();
    if (fs::exists(fs::symlink_status(outcome.build_dir))) remove_inside(builds, outcome.build_dir);
    fs::rename(partial, outcome.build_dir);
    cleanup.keep = true;
    // The report named the build by its temporary directory.
    for (auto at = outcome.test_report.find(partial.string()); at != std::string::npos;
         at = outcome.test_report.find(partial.string(), at))
        outcome.test_report.replace(at, partial.string().size(), outcome.build_dir.string());
    if (!build.test || outcome.test_passed) point_latest(builds, outcome.commit.version);
    log::info("built {} {} in {:.1f} s: {}", recipe.json().value("name", ""), outcome.commit.version,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
              outcome.build_dir.string());
    return outcome;
}

} // namespace imgbuild::pipeline
