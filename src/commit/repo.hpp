#pragma once
// The commit stage's repository helpers, shared by the commit itself (commit.cpp) and the tree cache
// (tree_cache.cpp): opening the two repositories, a transaction that aborts unless committed, and
// reading commits back.

#include <filesystem>
#include <optional>
#include <string>

#include "imgbuild/commit/commit.hpp"
#include "wrap/glib.hpp"

namespace imgbuild::commit {

// The repository at `path`, created with `mode` when missing (an existing one keeps its mode and config).
wrap::GObjectPtr<OstreeRepo> open_or_create(const std::filesystem::path& path, OstreeRepoMode mode);

wrap::GObjectPtr<OstreeRepo> open_existing(const std::filesystem::path& path);

// The build repository: bare (files as they are in the root, owners and modes included: a checkout
// can hardlink them), without fsync (a cache: a crash costs a rebuild, not data).
wrap::GObjectPtr<OstreeRepo> open_build_repo(const std::filesystem::path& path);

// Aborts the transaction unless it was committed.
class Transaction {
public:
    explicit Transaction(OstreeRepo* repo);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    void commit();

private:
    OstreeRepo* m_repo;
    bool m_done = false;
};

// The checksum `ref` (a ref or a checksum) names, or nullopt.
std::optional<std::string> resolve(OstreeRepo* repo, const std::string& ref);

CommitInfo describe(OstreeRepo* repo, const std::string& checksum);

bool has_commit(OstreeRepo* repo, const std::string& checksum);

} // namespace imgbuild::commit
