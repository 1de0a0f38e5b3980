// The tree cache (tree_cache.hpp): roots stored as commits of the bare build repository on refs
// imgbuild/cache/KIND/KEY, checked against their names before use, trimmed to the most recently used.

#include "imgbuild/commit/tree_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

#include <fmt/format.h>

#include "imgbuild/commit/commit.hpp"
#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/timer.hpp"
#include "repo.hpp"
#include "tree.hpp"
#include "wrap/glib.hpp"

namespace imgbuild::commit {

namespace fs = std::filesystem;
using wrap::gcall;
using wrap::GVariantPtr;

namespace {

// The file behind a ref of the repository: its modification time is when the ref was last used.
fs::path ref_file(const fs::path& repo, const std::string& ref) { return repo / "refs/heads" / ref; }

std::string kind_of(const std::string& ref) { return ref.substr(0, ref.rfind('/')); }

// The refs `kind/*`, most recently used first; `newest` (just written) before every other.
std::vector<std::pair<std::int64_t, std::string>> refs_by_use(OstreeRepo* repo, const fs::path& path,
                                                              const std::string& kind, const std::string& newest = {}) {
    GHashTable* raw = nullptr;
    gcall("list the cache's refs",
          [&](auto error) { return ostree_repo_list_refs(repo, kind.c_str(), &raw, nullptr, error); });
    wrap::GHashTablePtr listed(raw);
    std::vector<std::pair<std::int64_t, std::string>> refs;
    GHashTableIter iter;
    gpointer key = nullptr;
    g_hash_table_iter_init(&iter, listed.get());
    while (g_hash_table_iter_next(&iter, &key, nullptr)) {
        std::string name = kind + "/" + static_cast<const char*>(key);
        struct stat info {};
        ::stat(ref_file(path, name).c_str(), &info);
        refs.emplace_back(name == newest ? INT64_MAX : info.st_mtim.tv_sec * 1000000000ll + info.st_mtim.tv_nsec, name);
    }
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
    gcall(fmt::format("delete the ref {}", ref), [&](auto error) {
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
    gcall(fmt::format("load the commit {}", checksum), [&](auto error) {
        return ostree_repo_load_variant(repo, OSTREE_OBJECT_TYPE_COMMIT, checksum.c_str(), &raw, error);
    });
    GVariantPtr commit(raw);
    const char* subject = nullptr;
    g_variant_get_child(commit.get(), 3, "&s", &subject);
    if (!subject || ref != subject) {
        log::warn("discarding the cached tree {}: its ref names the commit {}, which was made for '{}'", ref, checksum,
                  subject ? subject : "");
        gcall(fmt::format("delete the ref {}", ref), [&](auto error) {
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
    gcall(fmt::format("check out the cached tree {} into '{}'", ref, dir.string()), [&](auto error) {
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
        gcall("write the cached tree's commit", [&](auto error) {
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
        gcall(fmt::format("delete the ref {}", refs[i].second), [&](auto error) {
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
