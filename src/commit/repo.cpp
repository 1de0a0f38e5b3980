// Opening the commit stage's repositories and reading commits back (see repo.hpp).

#include "repo.hpp"

#include <fcntl.h>

#include <fmt/format.h>

#include "imgbuild/commit/metadata.hpp"

namespace imgbuild::commit {

namespace fs = std::filesystem;
using wrap::gcall;
using wrap::gcall_ptr;
using wrap::GObjectPtr;
using wrap::GVariantPtr;

GObjectPtr<OstreeRepo> open_or_create(const fs::path& path, OstreeRepoMode mode) {
    bool created = !fs::exists(path / "config");
    fs::create_directories(path);
    GObjectPtr<OstreeRepo> repo(
        gcall_ptr(fmt::format("open the ostree repository '{}'", path.string()), [&](auto error) {
            return ostree_repo_create_at(AT_FDCWD, path.c_str(), mode, nullptr, nullptr, error);
        }));
    if (created && mode == OSTREE_REPO_MODE_ARCHIVE) {
        // zlib level 1 instead of 6: a pull compresses ~2.5× faster for objects ~5 % larger.
        wrap::GKeyFilePtr config(ostree_repo_copy_config(repo.get()));
        g_key_file_set_integer(config.get(), "archive", "zlib-level", 1);
        gcall("write the repository's config",
              [&](auto error) { return ostree_repo_write_config(repo.get(), config.get(), error); });
        gcall("reopen the repository",
              [&](auto error) { return ostree_repo_reload_config(repo.get(), nullptr, error); });
    }
    return repo;
}

GObjectPtr<OstreeRepo> open_existing(const fs::path& path) {
    return GObjectPtr<OstreeRepo>(
        gcall_ptr(fmt::format("open the ostree repository '{}'", path.string()),
                  [&](auto error) { return ostree_repo_open_at(AT_FDCWD, path.c_str(), nullptr, error); }));
}

GObjectPtr<OstreeRepo> open_build_repo(const fs::path& path) {
    auto repo = open_or_create(path, OSTREE_REPO_MODE_BARE);
    if (ostree_repo_get_mode(repo.get()) != OSTREE_REPO_MODE_BARE)
        throw CommitError("'{}' is not a bare repository; remove it (it is a cache)", path.string());
    ostree_repo_set_disable_fsync(repo.get(), TRUE);
    return repo;
}

std::optional<std::string> resolve(OstreeRepo* repo, const std::string& ref) {
    char* rev = nullptr;
    gcall(fmt::format("resolve '{}'", ref),
          [&](auto error) { return ostree_repo_resolve_rev(repo, ref.c_str(), TRUE, &rev, error); });
    if (!rev) return std::nullopt;
    wrap::GCharPtr owned(rev);
    return std::string(rev);
}

CommitInfo describe(OstreeRepo* repo, const std::string& checksum) {
    GVariant* raw = nullptr;
    gcall(fmt::format("load the commit {}", checksum), [&](auto error) {
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
    const char* name = nullptr;
    GVariant* value = nullptr;
    while (g_variant_iter_next(&iter, "{&sv}", &name, &value)) {
        GVariantPtr owned(value);
        if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING)) {
            info.metadata[name] = g_variant_get_string(value, nullptr);
        } else if (std::string_view(name) == key::packages && g_variant_is_of_type(value, G_VARIANT_TYPE("as"))) {
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
    gcall("look up a commit", [&](auto error) {
        return ostree_repo_has_object(repo, OSTREE_OBJECT_TYPE_COMMIT, checksum.c_str(), &have, nullptr, error);
    });
    return have;
}

Transaction::Transaction(OstreeRepo* repo) : m_repo(repo) {
    gcall("start a transaction",
          [&](auto error) { return ostree_repo_prepare_transaction(m_repo, nullptr, nullptr, error); });
}

void Transaction::commit() {
    gcall("commit the transaction",
          [&](auto error) { return ostree_repo_commit_transaction(m_repo, nullptr, nullptr, error); });
    m_done = true;
}

Transaction::~Transaction() {
    if (!m_done) ostree_repo_abort_transaction(m_repo, nullptr, nullptr);
}

} // namespace imgbuild::commit
