// The directories a run works in and the output bundle it leaves. Everything is made under a name that
// says it is incomplete (DIR.partial, builds/.<version>.partial-<pid>) and renamed when whole, so an
// interrupted run leaves nothing under a final name; names that carry a dead process's id are swept.

#include "bundle.hpp"

#include <unistd.h>

#include <regex>

#include <fmt/format.h>

#include "imgbuild/core/interrupt.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/verify/verify.hpp"

namespace imgbuild::pipeline {

namespace fs = std::filesystem;

using json = nlohmann::json;

namespace {

// Boots the build's images (imgbuild test) and records the result in its manifest.json.
void test_build(const fs::path& build_dir, const Context& context, const BuildOptions& options, BuildOutcome& outcome) {
    verify::TestOptions test;
    test.target = build_dir;
    test.cache_dir = context.cache_dir;
    test.accel = options.test_accel;
    test.boot_timeout = options.test_boot_timeout;
    auto report = context.stage("test", [&] { return verify::run_test(test); });
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

void point_latest(const fs::path& builds, const std::string& version) {
    fs::path link = builds / fmt::format(".latest-{}", ::getpid());
    fs::remove(link);
    fs::create_symlink(version, link);
    fs::rename(link, builds / "latest");
}

// The stages timed after the image stage wrote manifest.json (the boot test, the background
// publishing) join its timings; those it recorded itself stay.
void add_timings(const fs::path& manifest_path, const StageTimes& times) {
    json manifest = json::parse(read_file(manifest_path));
    json& timings = manifest["timings"];
    bool added = false;
    for (const auto& [stage, seconds] : times.seconds())
        if (!timings.contains(stage)) timings[stage] = seconds, added = true;
    if (added) write_file_atomic(manifest_path, manifest.dump(2) + "\n");
}

} // namespace

fs::path partial_path(const fs::path& dir) { return fs::path(dir.string() + ".partial"); }

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

fs::path work_dir(const Context& context, const std::string& name) {
    if (std::error_code ec; fs::exists(context.cache_dir / "ostree-build", ec)) {
        log::info("removing {}, the build repository of an older imgbuild",
                  (context.cache_dir / "ostree-build").string());
        fs::remove_all(context.cache_dir / "ostree-build", ec);
        fs::remove(context.cache_dir / "ostree-build.lock", ec);
    }
    sweep_leftovers(context);
    return context.cache_dir / "work" / fmt::format("{}-{}", name, ::getpid());
}

Bundle::Bundle(const fs::path& outdir, const Context& context)
    : m_outdir(outdir), m_builds(outdir / "builds"), m_context(context),
      m_lock(outdir / ".imgbuild.lock", fmt::format("the output bundle '{}'", outdir.string()),
             context.wait_for_locks) {
    static const std::regex leftover(R"(\..+\.partial-([0-9]+)|\.latest-([0-9]+))");
    interrupt::sweep_dead_leftovers(m_builds, leftover);
}

bool Bundle::reuse(BuildOutcome& outcome, const BuildOptions& options) {
    fs::path manifest = outcome.build_dir / "manifest.json";
    if (options.force || !outcome.commit.unchanged || !fs::exists(manifest)) return false;
    auto existing = json::parse(read_file(manifest), nullptr, false);
    if (!existing.is_object() || existing.value("commit", "") != outcome.commit.checksum) return false;
    // A build directory of an imgbuild before SHA256SUMS and the platforms' artifacts is imaged again.
    if (!existing.contains("sha256sums") || !fs::exists(outcome.build_dir / "SHA256SUMS")) return false;
    log::info("unchanged: {} already has the images of {}", outcome.build_dir.string(),
              outcome.commit.checksum.substr(0, 12));
    outcome.reused = true;
    note(m_context, "image", "reused", outcome.build_dir.string() + " has the images of this commit");
    if (!options.test) return true;
    const json& test = existing.value("test", json::object());
    if (test.value("passed", false)) {
        log::info("unchanged: its boot test passed already ({})", outcome.build_dir.string());
        outcome.tested = outcome.test_passed = true;
        note(m_context, "test", "reused", "these images passed their boot test");
    } else {
        test_build(outcome.build_dir, m_context, options, outcome);
        if (outcome.test_passed) point_latest(m_builds, outcome.commit.version);
    }
    return true;
}

image::ImageResult Bundle::make_images(const CommitOutcome& commit) {
    fs::create_directories(m_builds);
    m_partial = m_builds / fmt::format(".{}.partial-{}", commit.version, ::getpid());
    m_cleanup.emplace(m_partial);
    remove_inside(m_builds, m_partial);
    image::ImageOptions options;
    options.repo = repo();
    options.ref = commit.checksum;
    options.outdir = m_partial;
    options.cache_dir = m_context.cache_dir;
    options.build_repo = m_context.cache_dir / "ostree";
    options.stage_seconds = m_context.times->seconds();
    options.jobs = m_context.jobs;
    auto imaged = image::make_image(options);
    std::string why = commit.unchanged ? "the build directory had no images of this commit" : "a new commit";
    // "the qcow2 took …", then "the zlib qcow2 took …" for one a cloud imports.
    for (const auto& qcow2 : imaged.qcow2s)
        if (qcow2.clusters > 0)
            why += fmt::format("; the {}qcow2 took {} of its {} clusters from the last image",
                               qcow2.key == "qcow2" ? "" : qcow2.compression + " ", qcow2.reused, qcow2.clusters);
    note(m_context, "image", "built", why);
    return imaged;
}

void Bundle::test(BuildOutcome& outcome, const BuildOptions& options) {
    test_build(m_partial, m_context, options, outcome);
}

void Bundle::publish(BuildOutcome& outcome, const BuildOptions& options) {
    add_timings(m_partial / "manifest.json", *m_context.times);
    if (fs::exists(fs::symlink_status(outcome.build_dir))) remove_inside(m_builds, outcome.build_dir);
    fs::rename(m_partial, outcome.build_dir);
    m_cleanup->keep = true;
    // The report named the build by its temporary directory.
    for (auto at = outcome.test_report.find(m_partial.string()); at != std::string::npos;
         at = outcome.test_report.find(m_partial.string(), at))
        outcome.test_report.replace(at, m_partial.string().size(), outcome.build_dir.string());
    if (!options.test || outcome.test_passed) point_latest(m_builds, outcome.commit.version);
}

} // namespace imgbuild::pipeline
