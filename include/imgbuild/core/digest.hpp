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
// sha256 (hex) of a file or a directory tree as content: sorted names, types, the executable bit,
// contents and link targets; not owners, other modes or times. For "did this input change?".
std::string tree_digest(const std::filesystem::path& path);

} // namespace imgbuild
