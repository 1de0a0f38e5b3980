// The pipeline as flat lists of stage calls, each with why it is there, timed by the context's stage
// timer. The policy behind the calls has its own files: inputs.cpp (what a build is made from and what
// its commit records), version.cpp, install_cache.cpp (the installed-set cache), bundle.cpp (work
// directories and the output bundle).

#include "imgbuild/pipeline/pipeline.hpp"

#include <future>
#include <memory>

#include <fmt/format.h>

#include "bundle.hpp"
#include "imgbuild/commit/metadata.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/resolve/resolve.hpp"
#include "inputs.hpp"
#include "install_cache.hpp"

namespace imgbuild::pipeline {

namespace fs = std::filesystem;

namespace {

// The commit's move from the build repository into `repo`, and the root's removal after it (some 12000
// files, off the image stage's way); `repo_lock` is held until the end. Returns its seconds.
StageTimes publish(const commit::CommitOptions& options, commit::CommitResult result, const fs::path& root,
                   std::shared_ptr<FileLock> repo_lock) {
    RemoveOnExit remove_root{root};
    StageTimes times;
    times.run("commit: publish", [&] { commit::publish(options, result); });
    log::info("committed {} {} on {} in {:.1f} s ({} new objects){}",
              options.metadata.at(std::string(commit::key::recipe)), options.version, options.ref, result.seconds,
              result.objects_written,
              result.parent.empty() ? "" : fmt::format(", parent {}", result.parent.substr(0, 12)));
    if (options.sign) log::info("signed with the ed25519 key whose public half is {}", options.sign->public_base64());
    repo_lock.reset();
    return times;
}

// The seconds of stages timed apart (on another thread) into the context's.
void record(const Context& context, const StageTimes& times) {
    for (const auto& [stage, seconds] : times.seconds()) context.times->add(stage, seconds);
}

} // namespace

resolve::Lock lock_for(const recipe::Recipe& recipe, const Context& context) {
    return context.stage("resolve", [&] {
        return resolve::resolve(recipe,
                                resolve::ResolveOptions{context.cache_dir, context.offline, context.jobs, nullptr, {}});
    });
}

fetch::FetchResult fetch_packages(const resolve::Lock& lock, const Context& context) {
    auto result = context.stage("fetch", [&] {
        return fetch::fetch(lock,
                            fetch::FetchOptions{context.cache_dir, context.offline, context.jobs, context.progress});
    });
    log::info("fetched {} packages ({:.1f} MiB) in {:.1f} s: {} downloaded ({:.1f} MiB), {} from the cache",
              lock.packages.size(), static_cast<double>(result.bytes) / (1 << 20), result.seconds, result.downloaded,
              static_cast<double>(result.downloaded_bytes) / (1 << 20), result.cached);
    return result;
}

customize::CustomizeResult build_rootfs(const recipe::Recipe& recipe, const resolve::Lock& lock, const fs::path& dir,
                                        const Context& context, RootfsStage stage, const std::string& version,
                                        bool shared, const InputChanges* changes) {
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_empty(dir, ec))
        throw UsageError("Failed to build a root filesystem in '{}': it exists and is not empty", dir.string());
    // Built beside its final name; what an interrupted run left there goes first.
    fs::path partial = partial_path(dir);
    if (fs::exists(fs::symlink_status(partial, ec))) {
        log::info("removing {}, left by an interrupted run", partial.string());
        remove_inside(fs::absolute(partial).parent_path(), partial);
    }
    RemoveOnExit cleanup{partial};
    // The installed packages: from the tree cache when it has this set (or a near one), else installed.
    installed_root(recipe, lock, partial, context, shared, changes);
    // The recipe's tuning, the kernel and its initramfs, ostree's layout.
    customize::CustomizeResult customized;
    if (stage == RootfsStage::customize) {
        customize::CustomizeOptions options;
        options.cache_dir = context.cache_dir;
        options.version = version;
        options.source_date_epoch = lock.source_date_epoch;
        options.on_output = [](std::string_view line) { log::debug("| {}", line); };
        options.shared_files = shared;
        customized = context.stage("customize", [&] { return customize::customize(recipe, partial, options); });
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
    // Complete: under its final name.
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

CommitOutcome commit_recipe(const recipe::Recipe& recipe, const fs::path& repo, const Context& context, bool force,
                            std::future<StageTimes>* published) {
    std::string ref = recipe.ref();
    // One run at a time numbers, builds and publishes on this repository; the lock goes with the
    // publishing when that runs in the background.
    auto repo_lock = std::make_shared<FileLock>(
        repo / ".imgbuild.lock", fmt::format("the repository '{}'", repo.string()), context.wait_for_locks);
    // The signing key first: a bad one should fail before minutes of building, naming the recipe line.
    auto key = signing_key(recipe);
    // Which packages: the recipe's lock, or a fresh resolve.
    auto lock = lock_for(recipe, context);
    // Nothing to build when the ref's head was made from the same inputs (unless --force).
    auto inputs = BuildInputs::of(recipe, lock);
    auto head = commit::head(repo, ref);
    auto changes = changes_since(head, inputs, lock, context);
    if (auto unchanged = unchanged_head(head, ref, inputs, force, context)) return *unchanged;
    // The next version of the ref (the repository's lock keeps it ours until the commit is published).
    std::string version = build_version(recipe, lock.source_date_epoch, commit::history_versions(repo, ref));
    // The root: the installed set (tree cache), the recipe's tuning, the kernel, ostree's layout.
    fs::path root = work_dir(context, recipe.name());
    RemoveOnExit cleanup{root};
    auto customized = build_rootfs(recipe, lock, root, context, RootfsStage::customize, version, true, &changes);
    // The tree into the cache's build repository, with what the later commands read in its metadata.
    auto options = commit_options(recipe, lock, inputs, {ref, version, customized.kernel_version, key});
    options.repo = repo;
    options.build_repo = context.cache_dir / "ostree";
    options.parallel = context.jobs;
    auto result = context.stage("commit", [&] { return commit::commit_tree(root, options); });
    // Then into `repo`: the archive compresses the new objects while the caller goes on (the image stage
    // deploys from the build repository), or now. The root goes with the publishing.
    cleanup.keep = true;
    if (published)
        *published = std::async(std::launch::async, publish, options, result, root, repo_lock);
    else
        record(context, publish(options, result, root, repo_lock));
    std::string why = force ? "--force" : changes.describe();
    if (changes.first && !head) why = "the first build on " + ref;
    note(context, "commit", "built",
         fmt::format("{} ({} new objects){}", result.checksum.substr(0, 12), result.objects_written,
                     why.empty() ? "" : ": " + why));
    return {result.checksum, result.parent, ref, version, false};
}

BuildOutcome build_recipe(const recipe::Recipe& recipe, const fs::path& outdir, const Context& given,
                          const BuildOptions& options) {
    BuildOutcome outcome;
    Context context = given;
    context.notes = &outcome.notes;
    ScopedTimer timer("build");
    Bundle bundle(outdir, context);
    // 1. Everything up to the commit, on the recipe's ref in the bundle's repository ("compose").
    std::future<StageTimes> published;
    StageTimes compose;
    outcome.commit = compose.run(
        "compose", [&] { return commit_recipe(recipe, bundle.repo(), context, options.force, &published); });
    context.times->add(outcome.commit.unchanged ? "compose (reused)" : "compose", compose.seconds().at("compose"));
    outcome.build_dir = outdir / "builds" / outcome.commit.version;
    // 2. Nothing more when this very commit was imaged (and, with --test, passed) already.
    if (bundle.reuse(outcome, options)) return outcome;
    // 3. The images of that commit, in a hidden directory until whole.
    context.stage("image", [&] { bundle.make_images(outcome.commit); });
    // 4. The boot test, on the build before it gets its name.
    if (options.test) bundle.test(outcome, options);
    // 5. The build under its final name once its commit is in the bundle's repository, then builds/latest.
    if (published.valid()) record(context, published.get());
    bundle.publish(outcome, options);
    log::info("built {} {} in {:.1f} s: {}", recipe.name(), outcome.commit.version, timer.seconds(),
              outcome.build_dir.string());
    return outcome;
}

} // namespace imgbuild::pipeline
