#pragma once
// Where a run works and what it leaves: the work directories in the cache (and the sweep of those
// killed runs left), and the output bundle of `imgbuild build` (OUTDIR/repo, OUTDIR/builds/<version>,
// builds/latest): the reuse of an imaged commit, the images made in a hidden directory, the boot test,
// and the rename to the final name.

#include <filesystem>
#include <optional>
#include <string>

#include "imgbuild/core/files.hpp"
#include "imgbuild/image/image.hpp"
#include "imgbuild/pipeline/pipeline.hpp"

namespace imgbuild::pipeline {

// DIR.partial: where a root is built before it is renamed to DIR.
std::filesystem::path partial_path(const std::filesystem::path& dir);

// The work directory of a commit: CACHE/work/<name>-<pid>. Those of processes that are gone (killed
// builds) are removed first (sweep_leftovers): each holds a whole root. So is the bare-user build
// repository of an older imgbuild (CACHE/ostree-build), which the bare one replaced.
std::filesystem::path work_dir(const Context& context, const std::string& name);

class Bundle {
public:
    // One build at a time into a bundle: two would number their commits alike and one would drop out of
    // the ref's history. OUTDIR/.imgbuild.lock is held until the end; what a killed build left in
    // builds/ is removed now that none can be running.
    Bundle(const std::filesystem::path& outdir, const Context& context);

    std::filesystem::path repo() const { return m_outdir / "repo"; }

    // True when builds/<version> has the images of this very commit (unchanged, not forced) and its
    // SHA256SUMS. With options.test they are boot-tested unless they passed already, and builds/latest
    // moves if they pass.
    bool reuse(BuildOutcome& outcome, const BuildOptions& options);
    // The images of the commit in a hidden directory (builds/.<version>.partial-<pid>) until publish().
    image::ImageResult make_images(const CommitOutcome& commit);
    // The boot test of the images in the hidden directory.
    void test(BuildOutcome& outcome, const BuildOptions& options);
    // The stages' seconds into manifest.json (those after the image too), the hidden directory renamed
    // to builds/<version>, then builds/latest pointing at it unless its boot test failed (both renames
    // are atomic).
    void publish(BuildOutcome& outcome, const BuildOptions& options);

private:
    std::filesystem::path m_outdir;
    std::filesystem::path m_builds;
    const Context& m_context;
    FileLock m_lock;
    std::filesystem::path m_partial;
    std::optional<RemoveOnExit> m_cleanup;
};

} // namespace imgbuild::pipeline
