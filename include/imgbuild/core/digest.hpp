#pragma once
// Checksums of files and downloads (OpenSSL's EVP behind this header): the types repositories use
// (sha256 mostly; sha512, sha1 and md5 in older metadata).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace imgbuild {

enum class DigestType { md5, sha1, sha256, sha512 };

std::string_view digest_name(DigestType type);
// "sha256", "SHA256", "sha" (rpm-md's name for sha1) → the type; nullopt for anything else.
std::optional<DigestType> digest_type(std::string_view name);

struct Checksum {
    DigestType type = DigestType::sha256;
    std::string hex; // lowercase

    // "sha256:0123…"
    std::string str() const;
    bool operator==(const Checksum&) const = default;
};

// Incremental hashing, for data that streams through (downloads).
class Hasher {
public:
    explicit Hasher(DigestType type);
    ~Hasher();
    Hasher(Hasher&&) noexcept;
    Hasher& operator=(Hasher&&) noexcept;

    void update(const void* data, std::size_t size);
    void update(std::string_view data) { update(data.data(), data.size()); }
    // The digest so far as lowercase hex; the hasher can go on after it.
    std::string hex() const;
    DigestType type() const { return m_type; }

private:
    struct State;
    DigestType m_type;
    std::unique_ptr<State> m_state;
};

std::string sha256_hex(std::string_view data);
// Throws Error naming the file when it cannot be read.
Checksum checksum_file(const std::filesystem::path& path, DigestType type);
// The checksum of a cache entry: the regular file `path` opened without following a link. nullopt when
// it is missing, is anything but a regular file (a symlink put in its place) or cannot be read.
std::optional<Checksum> checksum_cached_file(const std::filesystem::path& path, DigestType type);

// A cache entry whose own name does not say its content (a repacked package, a built image) gets its
// sha256 recorded beside it when it is made, in FILE.sha256, and is checked against it before use.
std::filesystem::path digest_record_path(const std::filesystem::path& file);
void record_digest(const std::filesystem::path& file, const std::string& sha256);
// The sha256 recorded for `file`, or nullopt when there is no readable record.
std::optional<std::string> recorded_digest(const std::filesystem::path& file);
// True when `file` is a regular file whose sha256 is the one recorded beside it.
bool matches_recorded_digest(const std::filesystem::path& file);
// Removes a cache entry and its record (errors ignored: the entry is rebuilt anyway).
void discard_cached_file(const std::filesystem::path& file);
// sha256 (hex) of a file or a directory tree as content: sorted names, types, the executable bit,
// contents and link targets; not owners, other modes or times. For "did this input change?".
std::string tree_digest(const std::filesystem::path& path);

} // namespace imgbuild
