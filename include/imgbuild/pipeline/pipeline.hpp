#pragma once
// The pipeline: the stages called in order, each with the values of the ones before. The CLI's
// commands run a prefix of it (rootfs: up to customize; commit: up to commit) or all of it (build).

#include <cstdint>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "imgbuild/customize/customize.hpp"
#include "imgbuild/fetch/fetch.hpp"
#include "imgbuild/install/install.hpp"
#include "imgbuild/pipeline/context.hpp"
#include "imgbuild/recipe/recipe.hpp"
#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::pipeline {

// Removes what interrupted runs left in the cache's work directory and in /dev/shm (roots, views still
// mounted, disks): every such name carries its process id, and one whose process is gone is garbage.
void sweep_leftovers(const Context& context);

// What differs between the inputs of two builds (build_inputs), named for people.
struct InputChanges {
    bool first = false;                   // nothing to compare with: no earlier build, or it recorded no inputs
    std::vector<std::string> recipe_keys; // top-level recipe keys whose values differ
    std::vector<std::string> files;       // files the recipe names whose contents differ, or that came or went
    std::vector<std::string> packages;    // "+less 590-1", "-vim", "tzdata 2021a-1 → 2024a-0"
    bool tool = false;                    // another imgbuild
    // The changes among `keys` (all when empty) and the other inputs asked for, as one phrase.
    std::string describe(const std::vector<std::string>& keys = {}, bool with_files = true,
                         bool with_packages = true) const;
    // "2 packages (+less 590-1, tzdata 2021a-1 → 2024a-0)", or "" when they are the same.
    std::string describe_packages() const;
};
InputChanges compare_inputs(const nlohmann::json& before, const nlohmann::json& after);

// The lock a build uses: the recipe's lock: when it names one (checked against the repos), else a
// fresh resolve.
resolve::Lock lock_for(const recipe::Recipe& recipe, const Context& context);

// Fetches the lock's packages and logs a summary line.
fetch::FetchResult fetch_packages(const resolve::Lock& lock, const Context& context);

// The version of a build: the recipe's version (default "{date}.{n}") with {date} the day of
// `epoch` (YYYYMMDD, UTC) and {n} one more than the highest n among `history` versions of the same
// date (0 for the first build of a day).
std::string build_version(const recipe::Recipe& recipe, std::int64_t epoch, const std::vector<std::string>& history);

// The digest of everything a commit is made from: the recipe (canonical), the contents of the files
// it names (overlays, scripts, sources, keys), the locked packages and imgbuild's version. Two builds
// with the same digest make the same tree. The lock's repository dates are left out: new metadata
// with the same packages is no reason for a new commit.
std::string build_inputs_digest(const recipe::Recipe& recipe, const resolve::Lock& lock);
// The inputs themselves, as the digest hashes them: {recipe, files, packages, imgbuild}.
nlohmann::json build_inputs(const recipe::Recipe& recipe, const resolve::Lock& lock);

// The key of an installed package set in the tree cache: what install() reads, the locked packages
// (names, versions, checksums) and the options (docs, package keys), and imgbuild's version.
std::string install_key(const resolve::Lock& lock, const install::InstallOptions& options);

// The ref a recipe's commits go on: ostree.ref, else imgbuild/<name>/<arch>.
std::string ref_of(const recipe::Recipe& recipe);

enum class RootfsStage {
    install,   // the packages installed, nothing else
    customize, // the image's tree: tuned, with kernel and initramfs, in ostree's layout
};

// recipe → root filesystem at `dir`. It is built beside it (DIR.partial) and renamed into place when
// complete, so an interrupted run leaves nothing under `dir`; the next run starts over. The installed
// packages come from the tree cache when it has the lock's set (install_key), else are installed and
// added to it. With `shared`, the root's files are hardlinks of the cache (fast; only for roots that
// imgbuild alone changes, see commit::CheckoutMode); else copies. `changes` (against the last build)
// explains a cache miss in the notes.
customize::CustomizeResult build_rootfs(const recipe::Recipe& recipe, const resolve::Lock& lock,
                                        const std::filesystem::path& dir, const Context& context, RootfsStage stage,
                                        const std::string& version, bool shared = false,
                                        const InputChanges* changes = nullptr);
// The same, with the lock made first (lock_for) and the version of a first build.
void build_rootfs(const recipe::Recipe& recipe, const std::filesystem::path& dir, const Context& context,
                  RootfsStage stage);

struct CommitOutcome {
    std::string checksum;
    std::string parent;
    std::string ref;
    std::string version;
    bool unchanged = false; // the ref's head was built from the same inputs; nothing was built
};

// recipe → a commit on its ref in `repo` (an archive repository, created when missing). Skips the
// build when the head of the ref has the same build inputs, unless `force`. Holds the repository's lock
// (REPO/.imgbuild.lock) from choosing the version until the commit is published, so two runs never
// number two commits alike.
// With `published`, the commit's move into `repo` (commit::publish) runs in the background and the
// future is its end, with its seconds ("commit: publish") for the caller's context to record; the
// commit is in the cache's build repository when this returns.
CommitOutcome commit_recipe(const recipe::Recipe& recipe, const std::filesystem::path& repo, const Context& context,
                            bool force, std::future<StageTimes>* published = nullptr);

struct BuildOptions {
    bool force = false; // build again even when the inputs equal the last build's
    // Boot-test the images as the last stage (imgbuild test), recording the result in manifest.json.
    bool test = false;
    std::string test_accel = "auto";
    double test_boot_timeout = 600;
};

struct BuildOutcome {
    CommitOutcome commit;
    std::filesystem::path build_dir; // OUTDIR/builds/<version>
    bool reused = false;             // the commit was unchanged and already imaged
    bool tested = false;             // the boot test ran (now or in the reused build)
    bool test_passed = false;
    std::string test_report;      // the boot test's text report, when it ran now
    std::vector<StageNote> notes; // what each stage did and why (build --explain)
};

// recipe → the output bundle: the commit in OUTDIR/repo, its images, manifest.json, lock.json and
// sbom.spdx.json in OUTDIR/builds/<version>/ (made as a hidden directory and renamed when complete),
// OUTDIR/builds/latest → <version>. One build at a time per bundle: OUTDIR/.imgbuild.lock is held
// throughout (a second build waits, or fails with context.wait_for_locks false), and what an
// interrupted build left in OUTDIR/builds/ is removed first. With options.test the images are boot-tested before the
// rename; a build that fails its test is kept under its name (for its logs) but builds/latest does not move.
BuildOutcome build_recipe(const recipe::Recipe& recipe, const std::filesystem::path& outdir, const Context& context,
                          const BuildOptions& options);

} // namespace imgbuild::pipeline
