#pragma once
// The commit stage: a customized root → an ostree commit on the recipe's ref, written through the
// libostree C API into a fast bare build repository, then pulled into the output's archive
// repository (which nodes upgrade from), with the ref's previous commit as parent.

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "imgbuild/commit/tree_cache.hpp" // the tree cache, in the same build repository
#include "imgbuild/core/error.hpp"

namespace imgbuild::commit {

class CommitError : public Error {
public:
    using Error::Error;
};

// A signing key that cannot be used (unreadable, not ed25519, halves that do not match).
class KeyError : public Error {
public:
    using Error::Error;
};

struct SigningKey {
    std::array<unsigned char, 32> seed{};
    std::array<unsigned char, 32> public_key{};
    // What a node's remote config names: `verification-ed25519-key=<this>` (ostree's format).
    std::string public_base64() const;
};

// An ed25519 secret key in `ostree sign`'s format (base64 of seed and public key) or PEM (PKCS#8,
// as `openssl genpkey -algorithm ed25519` writes it). Throws KeyError.
SigningKey read_signing_key(const std::filesystem::path& path);

struct CommitOptions {
    std::filesystem::path repo;       // the archive repository, created when missing
    std::filesystem::path build_repo; // a bare repository (a cache: fast to write, never served)
    std::string ref;
    std::string subject;
    std::int64_t timestamp = 0; // the commit's time: SOURCE_DATE_EPOCH
    std::string version;
    std::string kernel_version;                  // marks the commit bootable
    std::map<std::string, std::string> metadata; // imgbuild.* strings
    std::vector<std::string> packages;           // "name version arch", for diffs and SBOMs
    std::optional<SigningKey> sign;              // ed25519 signature in the archive repository
    bool static_delta = false;                   // a static delta from the parent
    unsigned parallel = 8;
};

struct CommitResult {
    std::string checksum;
    std::string parent; // empty for the ref's first commit
    std::size_t objects_written = 0;
    double seconds = 0;
};

// commit_tree, then publish.
CommitResult commit(const std::filesystem::path& root, const CommitOptions& options);
// The tree and the commit in the build repository, the archive's head of the ref as parent. The
// image stage can deploy it from there at once.
CommitResult commit_tree(const std::filesystem::path& root, const CommitOptions& options);
// The commit into the archive repository (its missing objects, compressed), signed; then the ref
// moves, the static delta and the summary are made, and the build repository is pruned.
void publish(const CommitOptions& options, CommitResult& result);

// What a commit says about itself.
struct CommitInfo {
    std::string checksum;
    std::string parent;
    std::string version;
    std::int64_t timestamp = 0;
    std::map<std::string, std::string> metadata; // string entries of the commit metadata
    std::vector<std::string> packages;
};

// The head of `ref` in `repo`, or nullopt when the repo or ref does not exist.
std::optional<CommitInfo> head(const std::filesystem::path& repo, const std::string& ref);
// A commit by checksum (or ref).
CommitInfo read_commit(const std::filesystem::path& repo, const std::string& checksum_or_ref);
// The versions of the ref's commits, newest first (following parents present in the repo).
std::vector<std::string> history_versions(const std::filesystem::path& repo, const std::string& ref);
// Copies the file `path` (relative to the tree's top) of the commit `checksum` out of `repo` to `dest`.
// Throws CommitError saying why it could not.
void copy_file_out(const std::filesystem::path& repo, const std::string& checksum, const std::string& path,
                   const std::filesystem::path& dest);

} // namespace imgbuild::commit
