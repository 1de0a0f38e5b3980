#pragma once
// The pipeline: the stages called in order, each with the values of the ones before. The CLI's
// commands run a prefix of it (rootfs: up to customize; commit: up to commit) or all of it (build).

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "imgbuild/customize/customize.hpp"
#include "imgbuild/fetch/fetch.hpp"
#include "imgbuild/recipe/recipe.hpp"
#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::pipeline {

struct Context {
    std::filesystem::path cache_dir;
    bool offline = false;
    unsigned jobs = 8;
    bool progress = false; // progress lines on stderr
};

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

// The ref a recipe's commits go on: ostree.ref, else imgbuild/<name>/<arch>.
std::string ref_of(const recipe::Recipe& recipe);

enum class RootfsStage {
    install,   // the packages installed, nothing else
    customize, // the image's tree: tuned, with kernel and initramfs, in ostree's layout
};

// recipe → root filesystem at `dir`. It is built beside it (DIR.partial) and renamed into place when
// complete, so an interrupted run leaves nothing under `dir`; the next run starts over.
customize::CustomizeResult build_rootfs(const recipe::Recipe& recipe, const resolve::Lock& lock,
                                        const std::filesystem::path& dir, const Context& context, RootfsStage stage,
                                        const std::string& version);
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
// build when the head of the ref has the same build inputs, unless `force`.
CommitOutcome commit_recipe(const recipe::Recipe& recipe, const std::filesystem::path& repo, const Context& context,
                            bool force);

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
    std::string test_report; // the boot test's text report, when it ran now
};

// recipe → the output bundle: the commit in OUTDIR/repo, its images, manifest.json, lock.json and
// sbom.spdx.json in OUTDIR/builds/<version>/ (made as a hidden directory and renamed when complete),
// OUTDIR/builds/latest → <version>. With options.test the images are boot-tested before the rename;
// a build that fails its test is kept under its name (for its logs) but builds/latest does not move.
BuildOutcome build_recipe(const recipe::Recipe& recipe, const std::filesystem::path& outdir, const Context& context,
                          const BuildOptions& options);

} // namespace imgbuild::pipeline
