// The commit stage, through the libostree C API (docs/design.md §5). Writing a root into an archive
// repository compresses every object again on every build (~30 s); writing it into a bare
// repository is a copy (~3 s, and nothing at all for files checked out of it by hardlinks), and
// pulling that commit into the archive repository compresses only the objects the archive lacks. So:
//   build repo (bare, a cache, no fsync)      ← the tree; the commit, parent = the archive's head
//   archive repo (the output)                 ← pull the commit; sign it; then move the ref
// The ref moves last, after the objects and the signature are on disk: a node upgrading while a build
// runs sees the previous commit or the complete new one.

#include "imgbuild/commit/commit.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "imgbuild/commit/metadata.hpp"
#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/timer.hpp"
#include "repo.hpp"
#include "sign.hpp"
#include "tree.hpp"
#include "wrap/glib.hpp"

namespace imgbuild::commit {
namespace {

namespace fs = std::filesystem;
using wrap::gcall;
using wrap::gcall_ptr;
using wrap::GObjectPtr;
using wrap::GVariantPtr;

GVariantPtr commit_metadata(const CommitOptions& options) {
    GVariantDict dict;
    g_variant_dict_init(&dict, nullptr);
    if (!options.version.empty()) g_variant_dict_insert(&dict, "version", "s", options.version.c_str());
    if (!options.kernel_version.empty()) {
        g_variant_dict_insert(&dict, "ostree.bootable", "b", TRUE);
        g_variant_dict_insert(&dict, "ostree.linux", "s", options.kernel_version.c_str());
    }
    // The ref the commit was made for: a client pulling it under another ref refuses it.
    const char* refs[] = {options.ref.c_str(), nullptr};
    g_variant_dict_insert_value(&dict, "ostree.ref-binding", g_variant_new_strv(refs, 1));
    for (const auto& [key, value] : options.metadata) g_variant_dict_insert(&dict, key.c_str(), "s", value.c_str());
    std::vector<const char*> packages;
    for (const auto& package : options.packages) packages.push_back(package.c_str());
    g_variant_dict_insert_value(&dict, std::string(key::packages).c_str(),
                                g_variant_new_strv(packages.data(), static_cast<gssize>(packages.size())));
    return wrap::take(g_variant_dict_end(&dict));
}

} // namespace

CommitResult commit(const fs::path& root, const CommitOptions& options) {
    auto result = commit_tree(root, options);
    publish(options, result);
    return result;
}

CommitResult commit_tree(const fs::path& root, const CommitOptions& options) {
    auto started = std::chrono::steady_clock::now();
    CommitResult result;
    {
        auto archive = open_or_create(options.repo, OSTREE_REPO_MODE_ARCHIVE);
        result.parent = resolve(archive.get(), options.ref).value_or("");
    }

    // 1. The tree and the commit, in the build repository. Builds that share a cache take turns with
    // it: one's prune must not drop the objects another has written but not yet pulled.
    FileLock build_lock(options.build_repo.string() + ".lock", "the ostree build repository");
    auto build = open_build_repo(options.build_repo);
    {
        ScopedTimer timer("commit: tree");
        Transaction transaction(build.get());
        TreeStats stats;
        auto tree = write_tree(build.get(), root, options.parallel, stats);
        auto metadata = commit_metadata(options);
        char* checksum = nullptr;
        gcall("write the commit", [&](auto error) {
            return ostree_repo_write_commit_with_time(
                build.get(), result.parent.empty() ? nullptr : result.parent.c_str(), options.subject.c_str(), nullptr,
                metadata.get(), OSTREE_REPO_FILE(tree.get()), static_cast<guint64>(options.timestamp), &checksum,
                nullptr, error);
        });
        result.checksum = wrap::GCharPtr(checksum).get();
        ostree_repo_transaction_set_ref(build.get(), nullptr, options.ref.c_str(), result.checksum.c_str());
        transaction.commit();
        result.objects_written = stats.written;
        log::debug("tree: {} files ({} new objects, {} known by their inodes, {} existing objects checked), {} "
                   "directories",
                   stats.files, stats.written, stats.linked, stats.checked, stats.directories);
    }

    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return result;
}

void publish(const CommitOptions& options, CommitResult& result) {
    auto started = std::chrono::steady_clock::now();
    // The build repository's objects stay until the archive has them: no other build's prune meanwhile.
    FileLock build_lock(options.build_repo.string() + ".lock", "the ostree build repository");
    auto archive = open_or_create(options.repo, OSTREE_REPO_MODE_ARCHIVE);
    // 2. Into the archive repository: the objects it lacks, the signature, then the ref.
    {
        ScopedTimer timer("commit: pull into the archive");
        wrap::pull_local(archive.get(), options.build_repo, result.checksum,
                         fmt::format("pull the commit into '{}'", options.repo.string()));
    }
    if (options.sign) sign_commit(archive.get(), result.checksum, *options.sign);
    gcall(fmt::format("move the ref {}", options.ref), [&](auto error) {
        return ostree_repo_set_ref_immediate(archive.get(), nullptr, options.ref.c_str(), result.checksum.c_str(),
                                             nullptr, error);
    });

    // 3. What clients of the archive use besides the objects: a static delta, the summary.
    if (options.static_delta && !result.parent.empty() && result.parent != result.checksum) {
        if (!has_commit(archive.get(), result.parent)) {
            log::warn("no static delta: the parent {} is not in '{}'", result.parent, options.repo.string());
        } else {
            ScopedTimer timer("commit: static delta");
            GVariantBuilder params;
            g_variant_builder_init(&params, G_VARIANT_TYPE("a{sv}"));
            auto params_variant = wrap::take(g_variant_builder_end(&params));
            gcall("generate the static delta", [&](auto error) {
                return ostree_repo_static_delta_generate(archive.get(), OSTREE_STATIC_DELTA_GENERATE_OPT_MAJOR,
                                                         result.parent.c_str(), result.checksum.c_str(), nullptr,
                                                         params_variant.get(), nullptr, error);
            });
        }
    }
    gcall("regenerate the repository summary",
          [&](auto error) { return ostree_repo_regenerate_summary(archive.get(), nullptr, nullptr, error); });

    // 4. The build repository keeps only what its refs reach: the next build's objects-exist fast path.
    {
        auto build = open_build_repo(options.build_repo);
        ScopedTimer timer("commit: prune the build repository");
        gint total = 0, pruned = 0;
        guint64 freed = 0;
        gcall("prune the build repository", [&](auto error) {
            return ostree_repo_prune(build.get(), OSTREE_REPO_PRUNE_FLAGS_REFS_ONLY, 0, &total, &pruned, &freed,
                                     nullptr, error);
        });
    }
    result.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

std::optional<CommitInfo> head(const fs::path& repo, const std::string& ref) {
    if (!fs::exists(repo / "config")) return std::nullopt;
    auto opened = open_existing(repo);
    auto checksum = resolve(opened.get(), ref);
    if (!checksum) return std::nullopt;
    return describe(opened.get(), *checksum);
}

CommitInfo read_commit(const fs::path& repo, const std::string& checksum_or_ref) {
    if (!fs::exists(repo / "config")) throw CommitError("'{}' is not an ostree repository", repo.string());
    auto opened = open_existing(repo);
    auto checksum = resolve(opened.get(), checksum_or_ref);
    if (!checksum) throw CommitError("'{}' has no commit or ref '{}'", repo.string(), checksum_or_ref);
    return describe(opened.get(), *checksum);
}

void copy_file_out(const fs::path& repo, const std::string& checksum, const std::string& path, const fs::path& dest) {
    auto opened = open_existing(repo);
    GFile* raw_root = nullptr;
    gcall<CommitError>(fmt::format("read the commit {}", checksum), [&](auto error) {
        return ostree_repo_read_commit(opened.get(), checksum.c_str(), &raw_root, nullptr, nullptr, error);
    });
    wrap::GFilePtr root(raw_root);
    wrap::GFilePtr file(g_file_resolve_relative_path(root.get(), path.c_str()));
    std::string what = fmt::format("copy '{}' out of the commit {}", path, checksum);
    GObjectPtr<GFileInputStream> in(
        gcall_ptr<CommitError>(what, [&](auto error) { return g_file_read(file.get(), nullptr, error); }));
    wrap::GFilePtr out_file(g_file_new_for_path(dest.c_str()));
    GObjectPtr<GFileOutputStream> out(gcall_ptr<CommitError>(what, [&](auto error) {
        return g_file_replace(out_file.get(), nullptr, FALSE, G_FILE_CREATE_REPLACE_DESTINATION, nullptr, error);
    }));
    gcall<CommitError>(what, [&](auto error) {
        auto flags = static_cast<GOutputStreamSpliceFlags>(G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE |
                                                           G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET);
        return g_output_stream_splice(G_OUTPUT_STREAM(out.get()), G_INPUT_STREAM(in.get()), flags, nullptr, error) >= 0;
    });
}

std::vector<std::string> history_versions(const fs::path& repo, const std::string& ref) {
    std::vector<std::string> versions;
    if (!fs::exists(repo / "config")) return versions;
    auto opened = open_existing(repo);
    auto checksum = resolve(opened.get(), ref);
    while (checksum && has_commit(opened.get(), *checksum)) {
        CommitInfo info = describe(opened.get(), *checksum);
        versions.push_back(info.version);
        if (info.parent.empty()) break;
        checksum = info.parent;
    }
    return versions;
}

} // namespace imgbuild::commit
