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

#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/timer.hpp"
#include "sign.hpp"
#include "tree.hpp"
#include "wrap/glib.hpp"

namespace imgbuild::commit {
namespace {

namespace fs = std::filesystem;
using wrap::gcall;
using wrap::GObjectPtr;
using wrap::GVariantPtr;

// The repository at `path`, created with `mode` when missing (an existing one keeps its mode and config).
GObjectPtr<OstreeRepo> open_or_create(const fs::path& path, OstreeRepoMode mode) {
    bool created = !fs::exists(path / "config");
    fs::create_directories(path);
    GObjectPtr<OstreeRepo> repo;
    gcall(fmt::format("open the ostree repository '{}'", path.string()), [&](GError** error) {
        repo.reset(ostree_repo_create_at(AT_FDCWD, path.c_str(), mode, nullptr, nullptr, error));
        return repo != nullptr;
    });
    if (created && mode == OSTREE_REPO_MODE_ARCHIVE) {
        // zlib level 1 instead of 6: a pull compresses ~2.5× faster for objects ~5 % larger.
        GKeyFile* config = ostree_repo_copy_config(repo.get());
        g_key_file_set_integer(config, "archive", "zlib-level", 1);
        gcall("write the repository's config",
              [&](GError** error) { return ostree_repo_write_config(repo.get(), config, error); });
        g_key_file_unref(config);
        gcall("reopen the repository",
              [&](GError** error) { return ostree_repo_reload_config(repo.get(), nullptr, error); });
    }
    return repo;
}

GObjectPtr<OstreeRepo> open_existing(const fs::path& path) {
    GObjectPtr<OstreeRepo> repo;
    gcall(fmt::format("open the ostree repository '{}'", path.string()), [&](GError** error) {
        repo.reset(ostree_repo_open_at(AT_FDCWD, path.c_str(), nullptr, error));
        return repo != nullptr;
    });
    return repo;
}

// The build repository: bare (files as they are in the root, owners and modes included: a checkout
// can hardlink them), without fsync (a cache: a crash costs a rebuild, not data).
GObjectPtr<OstreeRepo> open_build_repo(const fs::path& path) {
    auto repo = open_or_create(path, OSTREE_REPO_MODE_BARE);
    if (ostree_repo_get_mode(repo.get()) != OSTREE_REPO_MODE_BARE)
        throw CommitError("'{}' is not a bare repository; remove it (it is a cache)", path.string());
    ostree_repo_set_disable_fsync(repo.get(), TRUE);
    return repo;
}

// Aborts the transaction unless it was committed.
struct Transaction {
    OstreeRepo* repo;
    bool done = false;
    explicit Transaction(OstreeRepo* r) : repo(r) {
        gcall("start a transaction",
              [&](GError** error) { return ostree_repo_prepare_transaction(repo, nullptr, nullptr, error); });
    }
    void commit() {
        gcall("commit the transaction",
              [&](GError** error) { return ostree_repo_commit_transaction(repo, nullptr, nullptr, error); });
        done = true;
    }
    ~Transaction() {
        if (!done) ostree_repo_abort_transaction(repo, nullptr, nullptr);
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
};

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
    g_variant_dict_insert_value(&dict, "imgbuild.packages",
                                g_variant_new_strv(packages.data(), static_cast<gssize>(packages.size())));
    return wrap::take(g_variant_dict_end(&dict));
}

std::optional<std::string> resolve(OstreeRepo* repo, const std::string& ref) {
    char* rev = nullptr;
    gcall(fmt::format("resolve '{}'", ref),
          [&](GError** error) { return ostree_repo_resolve_rev(repo, ref.c_str(), TRUE, &rev, error); });
    if (!rev) return std::nullopt;
    wrap::GCharPtr owned(rev);
    return std::string(rev);
}

CommitInfo describe(OstreeRepo* repo, const std::string& checksum) {
    GVariant* raw = nullptr;
    gcall(fmt::format("load the commit {}", checksum), [&](GError** error) {
        return ostree_repo_load_variant(repo, OSTREE_OBJECT_TYPE_COMMIT, checksum.c_str(), &raw, error);
    });
    GVariantPtr commit(raw);
    CommitInfo info;
    info.checksum = checksum;
    if (wrap::GCharPtr parent{ostree_commit_get_parent(commit.get())}) info.parent = parent.get();
    info.timestamp = static_cast<std::int64_t>(ostree_commit_get_timestamp(commit.get()));
    GVariantPtr metadata(g_variant_get_child_value(commit.get(), 0));
    GVariantIter iter;
    g_variant_iter_init(&iter, metadata.get());
    const char* key = nullptr;
    GVariant* value = nullptr;
    while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
        GVariantPtr owned(value);
        if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING)) {
            info.metadata[key] = g_variant_get_string(value, nullptr);
        } else if (std::string_view(key) == "imgbuild.packages" && g_variant_is_of_type(value, G_VARIANT_TYPE("as"))) {
            gsize count = 0;
            const char** strings = g_variant_get_strv(value, &count);
            info.packages.assign(strings, strings + count);
            g_free(strings);
        }
    }
    if (auto it = info.metadata.find("version"); it != info.metadata.end()) info.version = it->second;
    return info;
}

bool has_commit(OstreeRepo* repo, const std::string& checksum) {
    gboolean have = FALSE;
    gcall("look up a commit", [&](GError** error) {
        return ostree_repo_has_object(repo, OSTREE_OBJECT_TYPE_COMMIT, checksum.c_str(), &have, nullptr, error);
    });
    return have;
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
        gcall("write the commit", [&](GError** error) {
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
        GVariantBuilder builder;
        g_variant_builder_init(&builder, G_VARIANT_TYPE("a{sv}"));
        const char* refs[] = {result.checksum.c_str(), nullptr};
        g_variant_builder_add(&builder, "{s@v}", "refs", g_variant_new_variant(g_variant_new_strv(refs, 1)));
        g_variant_builder_add(&builder, "{s@v}", "depth", g_variant_new_variant(g_variant_new_int32(0)));
        auto pull_options = wrap::take(g_variant_builder_end(&builder));
        std::string url = "file://" + fs::absolute(options.build_repo).lexically_normal().string();
        gcall(fmt::format("pull the commit into '{}'", options.repo.string()), [&](GError** error) {
            return ostree_repo_pull_with_options(archive.get(), url.c_str(), pull_options.get(), nullptr, nullptr,
                                                 error);
        });
    }
    if (options.sign) sign_commit(archive.get(), result.checksum, *options.sign);
    gcall(fmt::format("move the ref {}", options.ref), [&](GError** error) {
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
            gcall("generate the static delta", [&](GError** error) {
                return ostree_repo_static_delta_generate(archive.get(), OSTREE_STATIC_DELTA_GENERATE_OPT_MAJOR,
                                                         result.parent.c_str(), result.checksum.c_str(), nullptr,
                                                         params_variant.get(), nullptr, error);
            });
        }
    }
    gcall("regenerate the repository summary",
          [&](GError** error) { return ostree_repo_regenerate_summary(archive.get(), nullptr, nullptr, error); });

    // 4. The build repository keeps only what its refs reach: the next build's objects-exist fast path.
    {
        auto build = open_build_repo(options.build_repo);
        ScopedTimer timer("commit: prune the build repository");
        gint total = 0, pruned = 0;
        guint64 freed = 0;
        gcall("prune the build repository", [&](GError** error) {
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

namespace {

// The file behind a ref of the repository: its modification time is when the ref was last used.
fs::path ref_file(const fs::path& repo, const std::string& ref) { return repo / "refs/heads" / ref; }

std::string kind_of(const std::string& ref) { return ref.substr(0, ref.rfind('/')); }

// The refs `kind/*`, most recently used first; `newest` (just written) before every other.
std::vector<std::pair<std::int64_t, std::string>> refs_by_use(OstreeRepo* repo, const fs::path& path,
                                                              const std::string& kind, const std::string& newest = {}) {
    GHashTable* raw = nullptr;
    gcall("list the cache's refs",
          [&](GError** error) { return ostree_repo_list_refs(repo, kind.c_str(), &raw, nullptr, error); });
    std::vector<std::pair<std::int64_t, std::string>> refs;
    GHashTableIter iter;
    gpointer key = nullptr;
    g_hash_table_iter_init(&iter, raw);
    while (g_hash_table_iter_next(&iter, &key, nullptr)) {
        std::string name = kind + "/" + static_cast<const char*>(key);
        struct stat info {};
        ::stat(ref_file(path, name).c_str(), &info);
        refs.emplace_back(name == newest ? INT64_MAX : info.st_mtim.tv_sec * 1000000000ll + info.st_mtim.tv_nsec, name);
    }
    g_hash_table_unref(raw);
    std::sort(refs.begin(), refs.end(), std::greater<>());
    return refs;
}

// Drops a cached tree whose objects are damaged: its ref goes, and so do the damaged objects (ostree
// would trust them: a later tree that has the same file must write it again); the rest of its objects
// go at the next prune.
void drop_damaged(OstreeRepo* repo, const std::string& ref, const std::vector<DamagedObject>& damaged) {
    const auto& first = damaged.front();
    log::warn("discarding the cached tree {}: {} damaged object{} in the cache's repository (the {} object {}{}: "
              "{}){}",
              ref, damaged.size(), damaged.size() == 1 ? "" : "s", first.kind, first.checksum,
              first.path.empty() ? "" : fmt::format(" of {}", first.path), first.reason,
              damaged.size() > 1 ? ", and more" : "");
    remove_objects(repo, damaged);
    gcall(fmt::format("delete the ref {}", ref), [&](GError** error) {
        return ostree_repo_set_ref_immediate(repo, nullptr, ref.c_str(), nullptr, nullptr, error);
    });
}

// A cached tree's commit, read only when its object is intact and was made for `ref` (its subject):
// a ref edited to name another tree is a damaged entry too. nullopt, with the ref dropped, otherwise.
std::optional<CommitInfo> intact_cached_commit(OstreeRepo* repo, const std::string& ref, const std::string& checksum) {
    std::string relative = fmt::format("objects/{}/{}.commit", checksum.substr(0, 2), checksum.substr(2));
    std::string reason;
    auto bytes =
        try_read_file(fs::path(wrap::GCharPtr(g_file_get_path(ostree_repo_get_path(repo))).get()) / relative, reason);
    if (!bytes || sha256_hex(*bytes) != checksum) {
        drop_damaged(repo, ref, {{checksum, "commit", "", bytes ? "its content no longer matches its name" : reason}});
        return std::nullopt;
    }
    GVariant* raw = nullptr;
    gcall(fmt::format("load the commit {}", checksum), [&](GError** error) {
        return ostree_repo_load_variant(repo, OSTREE_OBJECT_TYPE_COMMIT, checksum.c_str(), &raw, error);
    });
    GVariantPtr commit(raw);
    const char* subject = nullptr;
    g_variant_get_child(commit.get(), 3, "&s", &subject);
    if (!subject || ref != subject) {
        log::warn("discarding the cached tree {}: its ref names the commit {}, which was made for '{}'", ref, checksum,
                  subject ? subject : "");
        gcall(fmt::format("delete the ref {}", ref), [&](GError** error) {
            return ostree_repo_set_ref_immediate(repo, nullptr, ref.c_str(), nullptr, nullptr, error);
        });
        return std::nullopt;
    }
    return describe(repo, checksum);
}

} // namespace

bool checkout_cached(const fs::path& build_repo, const std::string& ref, const fs::path& dir, CheckoutMode mode) {
    if (!fs::exists(build_repo / "config")) return false;
    FileLock lock(build_repo.string() + ".lock", "the ostree build repository");
    auto repo = open_build_repo(build_repo);
    auto checksum = resolve(repo.get(), ref);
    if (!checksum) return false;
    // Every object the tree reaches, checked against its name before a file of it is used: the cache
    // is only a cache, and a changed object would otherwise reach the image and the published
    // repository under its old name.
    {
        ScopedTimer timer("tree cache: check the objects");
        if (!intact_cached_commit(repo.get(), ref, *checksum)) return false;
        auto check = check_commit_objects(repo.get(), *checksum);
        if (!check.damaged.empty()) {
            drop_damaged(repo.get(), ref, check.damaged);
            return false;
        }
        log::debug("checked the {} objects ({:.0f} MiB) of the cached tree {} in {:.2f} s", check.objects,
                   static_cast<double>(check.bytes) / (1 << 20), ref, timer.seconds());
    }
    OstreeRepoCheckoutAtOptions options{};
    options.mode = OSTREE_REPO_CHECKOUT_MODE_NONE; // owners, modes and xattrs as committed
    options.overwrite_mode = OSTREE_REPO_CHECKOUT_OVERWRITE_NONE;
    options.no_copy_fallback = mode == CheckoutMode::hardlinks;
    options.force_copy = mode == CheckoutMode::copies;
    gcall(fmt::format("check out the cached tree {} into '{}'", ref, dir.string()), [&](GError** error) {
        return ostree_repo_checkout_at(repo.get(), &options, AT_FDCWD, dir.c_str(), checksum->c_str(), nullptr, error);
    });
    // Used now: the last to go when the cache is trimmed.
    ::utimensat(AT_FDCWD, ref_file(build_repo, ref).c_str(), nullptr, 0);
    return true;
}

void store_cached(const fs::path& build_repo, const std::string& ref, const fs::path& root, unsigned parallel,
                  std::size_t keep, bool adopt, const std::map<std::string, std::string>& metadata_strings) {
    FileLock lock(build_repo.string() + ".lock", "the ostree build repository");
    auto repo = open_build_repo(build_repo);
    {
        Transaction transaction(repo.get());
        TreeStats stats;
        auto tree = write_tree(repo.get(), root, parallel, stats, adopt);
        GVariantDict dict;
        g_variant_dict_init(&dict, nullptr);
        for (const auto& [name, value] : metadata_strings)
            g_variant_dict_insert(&dict, name.c_str(), "s", value.c_str());
        auto metadata = wrap::take(g_variant_dict_end(&dict));
        char* checksum = nullptr;
        gcall("write the cached tree's commit", [&](GError** error) {
            return ostree_repo_write_commit_with_time(repo.get(), nullptr, ref.c_str(), nullptr, metadata.get(),
                                                      OSTREE_REPO_FILE(tree.get()), 0, &checksum, nullptr, error);
        });
        wrap::GCharPtr owned(checksum);
        ostree_repo_transaction_set_ref(repo.get(), nullptr, ref.c_str(), checksum);
        transaction.commit();
        log::debug("cached {}: {} files ({} new objects)", ref, stats.files, stats.written);
    }

    // The same kind's refs, most recently used first (this one first of all); the others go.
    auto refs = refs_by_use(repo.get(), build_repo, kind_of(ref), ref);
    for (std::size_t i = keep; i < refs.size(); ++i) {
        log::debug("dropping the cached tree {} (least recently used)", refs[i].second);
        gcall(fmt::format("delete the ref {}", refs[i].second), [&](GError** error) {
            return ostree_repo_set_ref_immediate(repo.get(), nullptr, refs[i].second.c_str(), nullptr, nullptr, error);
        });
    }
}

std::vector<CachedTree> cached_trees(const fs::path& build_repo, const std::string& kind) {
    std::vector<CachedTree> trees;
    if (!fs::exists(build_repo / "config")) return trees;
    FileLock lock(build_repo.string() + ".lock", "the ostree build repository");
    auto repo = open_build_repo(build_repo);
    for (const auto& [used, ref] : refs_by_use(repo.get(), build_repo, "imgbuild/cache/" + kind)) {
        auto checksum = resolve(repo.get(), ref);
        if (!checksum) continue;
        auto info = intact_cached_commit(repo.get(), ref, *checksum);
        if (!info) continue;
        trees.push_back({ref, *checksum, std::move(info->metadata)});
    }
    return trees;
}

} // namespace imgbuild::commit
