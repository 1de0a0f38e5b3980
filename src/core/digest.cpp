// Checksums with OpenSSL's EVP interface: hardware-accelerated SHA-256 where the CPU has it, which
// matters when every downloaded package is hashed.

#include "imgbuild/core/digest.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <vector>

#include <fmt/format.h>

#include "imgbuild/core/c_ptr.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/fd.hpp"
#include "imgbuild/core/files.hpp"

namespace imgbuild {

namespace {

using EvpContext = CPtr<EVP_MD_CTX, EVP_MD_CTX_free>;

} // namespace

struct Hasher::State {
    EvpContext context{EVP_MD_CTX_new()};
};

namespace {

const EVP_MD* algorithm(DigestType type) {
    switch (type) {
    case DigestType::md5: return EVP_md5();
    case DigestType::sha1: return EVP_sha1();
    case DigestType::sha256: return EVP_sha256();
    case DigestType::sha512: return EVP_sha512();
    }
    return EVP_sha256();
}

} // namespace

std::string_view digest_name(DigestType type) {
    switch (type) {
    case DigestType::md5: return "md5";
    case DigestType::sha1: return "sha1";
    case DigestType::sha256: return "sha256";
    case DigestType::sha512: return "sha512";
    }
    return "sha256";
}

std::optional<DigestType> digest_type(std::string_view name) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "sha256") return DigestType::sha256;
    if (lower == "sha512") return DigestType::sha512;
    if (lower == "sha1" || lower == "sha") return DigestType::sha1;
    if (lower == "md5" || lower == "md5sum") return DigestType::md5;
    return std::nullopt;
}

std::string Checksum::str() const { return fmt::format("{}:{}", digest_name(type), hex); }

Hasher::Hasher(DigestType type) : m_type(type), m_state(std::make_unique<State>()) {
    if (!m_state->context || EVP_DigestInit_ex(m_state->context.get(), algorithm(type), nullptr) != 1)
        throw Error("Failed to start a {} digest", digest_name(type));
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(const void* data, std::size_t size) { EVP_DigestUpdate(m_state->context.get(), data, size); }

std::string Hasher::hex() const {
    // Finalise a copy so the running digest can continue.
    EvpContext copy(EVP_MD_CTX_new());
    EVP_MD_CTX_copy_ex(copy.get(), m_state->context.get());
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(copy.get(), digest, &length);
    std::string hex;
    hex.reserve(length * 2);
    for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
    return hex;
}

std::string sha256_hex(std::string_view data) {
    Hasher hasher(DigestType::sha256);
    hasher.update(data);
    return hasher.hex();
}

namespace {

// Hashes an open file; sparse files (disk images) are mostly holes: those are hashed as zeros without
// reading them.
Checksum checksum_fd(int fd, const std::filesystem::path& path, DigestType type) {
    Hasher hasher(type);
    std::vector<char> buffer(1 << 20);
    static const std::vector<char> zeros(1 << 20, '\0');
    off_t offset = 0;
    for (;;) {
        off_t data = ::lseek(fd, offset, SEEK_DATA);
        if (data < 0) { // past the last data: the rest is a hole (or the file ended)
            data = ::lseek(fd, 0, SEEK_END);
            if (data < 0) throw SysError(errno, "read '{}'", path.string());
        }
        for (off_t left = data - offset; left > 0;) {
            auto chunk = static_cast<std::size_t>(std::min<off_t>(left, static_cast<off_t>(zeros.size())));
            hasher.update(zeros.data(), chunk);
            left -= static_cast<off_t>(chunk);
        }
        offset = data;
        off_t hole = ::lseek(fd, offset, SEEK_HOLE);
        if (hole < 0 || hole == offset) break;
        while (offset < hole) {
            auto want = static_cast<std::size_t>(std::min<off_t>(hole - offset, static_cast<off_t>(buffer.size())));
            ssize_t n = ::pread(fd, buffer.data(), want, offset);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw SysError(errno, "read '{}'", path.string());
            if (n == 0) break;
            hasher.update(buffer.data(), static_cast<std::size_t>(n));
            offset += n;
        }
    }
    return Checksum{type, hasher.hex()};
}

} // namespace

Checksum checksum_file(const std::filesystem::path& path, DigestType type) {
    Fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!file) throw SysError(errno, "read '{}'", path.string());
    return checksum_fd(file.get(), path, type);
}

std::optional<Checksum> checksum_cached_file(const std::filesystem::path& path, DigestType type) {
    Fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    struct stat info {};
    if (!file || ::fstat(file.get(), &info) != 0 || !S_ISREG(info.st_mode)) return std::nullopt;
    try {
        return checksum_fd(file.get(), path, type);
    } catch (const Error&) {
        return std::nullopt;
    }
}

std::filesystem::path digest_record_path(const std::filesystem::path& file) {
    return std::filesystem::path(file.string() + ".sha256");
}

void record_digest(const std::filesystem::path& file, const std::string& sha256) {
    write_file_atomic(digest_record_path(file), sha256 + "\n");
}

std::optional<std::string> recorded_digest(const std::filesystem::path& file) {
    std::string reason;
    auto text = try_read_file(digest_record_path(file), reason);
    if (!text || text->size() != 65 || text->back() != '\n') return std::nullopt;
    text->pop_back();
    if (text->find_first_not_of("0123456789abcdef") != std::string::npos) return std::nullopt;
    return text;
}

bool matches_recorded_digest(const std::filesystem::path& file) {
    auto recorded = recorded_digest(file);
    if (!recorded) return false;
    auto actual = checksum_cached_file(file, DigestType::sha256);
    return actual && actual->hex == *recorded;
}

void discard_cached_file(const std::filesystem::path& file) {
    std::error_code ec;
    std::filesystem::remove(file, ec);
    std::filesystem::remove(digest_record_path(file), ec);
}

std::string tree_digest(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    Hasher hasher(DigestType::sha256);
    // One line per entry, in sorted order: type, executable bit, relative name, then the content's
    // digest or the link's target.
    auto add = [&](const fs::path& entry, const std::string& name) {
        auto status = fs::symlink_status(entry);
        if (fs::is_symlink(status)) {
            hasher.update(fmt::format("l {} {}\n", name, fs::read_symlink(entry).string()));
        } else if (fs::is_directory(status)) {
            hasher.update(fmt::format("d {}\n", name));
        } else if (fs::is_regular_file(status)) {
            bool executable = (status.permissions() & fs::perms::owner_exec) != fs::perms::none;
            hasher.update(
                fmt::format("f{} {} {}\n", executable ? "x" : "", name, checksum_file(entry, DigestType::sha256).hex));
        } else if (fs::exists(status)) {
            hasher.update(fmt::format("o {}\n", name));
        } else {
            throw Error("Failed to read '{}': it does not exist", entry.string());
        }
    };
    // The input itself may be a link (an overlay directory linked from elsewhere): what counts is
    // what it names, as the stages that read it follow it too. Links inside stay links.
    fs::path top = fs::is_symlink(path) ? fs::canonical(path) : path;
    add(top, ".");
    if (fs::is_directory(fs::symlink_status(top))) {
        std::vector<fs::path> entries;
        for (const auto& entry : fs::recursive_directory_iterator(top)) entries.push_back(entry.path());
        std::sort(entries.begin(), entries.end());
        for (const auto& entry : entries) add(entry, entry.lexically_relative(top).string());
    }
    return hasher.hex();
}

} // namespace imgbuild
