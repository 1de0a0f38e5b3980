// The words of a kernel: what tells a sysctl name the kernel has from a typo. Every sysctl's name is a
// C string in the kernel image or in the module that registers it, so the NUL-terminated runs of name
// characters in the decompressed image and the modules hold every name (and many other words). The
// linker merges a string into a longer one that ends with it ("rp_filter" lives inside "arp_filter"),
// so a name is known when some word ends with it: the words are kept reversed and sorted, and that is
// a binary search. Reading 300 MB of modules and decompressing the image takes seconds, so the words
// are cached by the image's digest.

#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/root_dir.hpp"
#include "imgbuild/customize/kernel.hpp"
#include "wrap/archive.hpp"

namespace imgbuild::customize {
namespace {

namespace fs = std::filesystem;

// Bump when the words read from the same kernel change.
constexpr int words_format = 1;

bool name_character(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

std::uint32_t little_endian32(std::string_view bytes, std::size_t at) {
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < 4; ++i)
        value |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
    return value;
}

} // namespace

KernelWords::KernelWords(std::vector<std::string> words) : m_reversed(std::move(words)) {
    for (auto& word : m_reversed) std::reverse(word.begin(), word.end());
    std::sort(m_reversed.begin(), m_reversed.end());
    m_reversed.erase(std::unique(m_reversed.begin(), m_reversed.end()), m_reversed.end());
}

KernelWords KernelWords::from_reversed(std::vector<std::string> reversed_sorted) {
    KernelWords words;
    words.m_reversed = std::move(reversed_sorted);
    return words;
}

bool KernelWords::ends_a_word(std::string_view name) const {
    std::string reversed(name.rbegin(), name.rend());
    auto it = std::lower_bound(m_reversed.begin(), m_reversed.end(), reversed);
    return it != m_reversed.end() && it->starts_with(reversed);
}

void collect_words(std::string_view bytes, std::vector<std::string>& words) {
    // A word: 2 to 64 name characters between a NUL (or any other byte: the merged tail of a longer
    // string) and a NUL.
    std::size_t start = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        char c = bytes[i];
        if (name_character(c)) continue;
        if (c == '\0' && i - start >= 2 && i - start <= 64) words.emplace_back(bytes.substr(start, i - start));
        start = i + 1;
    }
}

namespace {

// The bytes of a compressed stream (xz, gzip, zstd, lz4, bzip2, lzma…), nullopt when libarchive knows
// no such compression or the stream is broken.
std::optional<std::string> decompress(std::string_view bytes) {
    wrap::ArchiveReader reader(archive_read_new());
    archive_read_support_filter_all(reader.get());
    archive_read_support_format_raw(reader.get());
    archive_entry* entry = nullptr;
    if (archive_read_open_memory(reader.get(), bytes.data(), bytes.size()) != ARCHIVE_OK ||
        archive_read_next_header(reader.get(), &entry) != ARCHIVE_OK)
        return std::nullopt;
    // A raw "archive" read through no filter: not compressed in a way libarchive knows.
    if (archive_filter_count(reader.get()) < 2) return std::nullopt;
    std::string out;
    char buffer[1 << 16];
    la_ssize_t n;
    while ((n = archive_read_data(reader.get(), buffer, sizeof buffer)) > 0)
        out.append(buffer, static_cast<std::size_t>(n));
    return out;
}

} // namespace

std::optional<std::string> decompress_bzimage(std::string_view image) {
    // The boot protocol's setup header (Documentation/x86/boot.rst): "HdrS" at 0x202, version ≥ 2.08
    // for payload_offset (0x248) and payload_length (0x24c), counted from the protected-mode code at
    // (setup_sects + 1) * 512.
    if (image.size() < 0x250 || image.substr(0x202, 4) != "HdrS") return std::nullopt;
    auto version = static_cast<unsigned>(static_cast<unsigned char>(image[0x206])) |
                   static_cast<unsigned>(static_cast<unsigned char>(image[0x207])) << 8;
    if (version < 0x0208) return std::nullopt;
    unsigned setup_sects = static_cast<unsigned char>(image[0x1f1]);
    std::size_t offset =
        (static_cast<std::size_t>(setup_sects == 0 ? 4 : setup_sects) + 1) * 512 + little_endian32(image, 0x248);
    std::size_t length = little_endian32(image, 0x24c);
    if (offset + length > image.size() || length == 0) return std::nullopt;

    auto decompressed = decompress(image.substr(offset, length));
    if (!decompressed) return std::nullopt;
    std::string out = std::move(*decompressed);
    // The payload may end with bytes after the stream (the decompressor's size field): what was read is
    // the image when it is an ELF file.
    if (out.size() < 4 || out.compare(0, 4,
                                      "\x7f"
                                      "ELF") != 0)
        return std::nullopt;
    return out;
}

std::optional<KernelWords> kernel_words(const Kernel& kernel, const fs::path& cache_dir) {
    if (kernel.root.empty() || kernel.image.empty()) return std::nullopt;
    RootDir tree(kernel.root);
    std::string image = tree.read(kernel.image.lexically_relative(kernel.root));
    std::string key = fmt::format("{}-v{}", sha256_hex(image), words_format);
    fs::path cached = cache_dir.empty() ? fs::path() : cache_dir / "kernel" / (key + ".words");

    // The cached words: the first line is the sha256 of the rest, checked before use.
    if (!cached.empty()) {
        std::string reason;
        if (auto text = try_read_file(cached, reason)) {
            auto newline = text->find('\n');
            if (newline != std::string::npos &&
                text->compare(0, newline, sha256_hex(std::string_view(*text).substr(newline + 1))) == 0) {
                std::vector<std::string> reversed;
                for (std::size_t at = newline + 1; at < text->size();) {
                    auto end = text->find('\n', at);
                    if (end == std::string::npos) end = text->size();
                    reversed.emplace_back(text->substr(at, end - at));
                    at = end + 1;
                }
                return KernelWords::from_reversed(std::move(reversed));
            }
            log::warn("the cached words of kernel {} ('{}') are damaged; reading the kernel again", kernel.version,
                      cached.string());
        }
    }

    auto vmlinux = decompress_bzimage(image);
    if (!vmlinux) {
        log::debug("kernel {}: its image is not a bzImage imgbuild can decompress; sysctl names are not checked",
                   kernel.version);
        return std::nullopt;
    }
    std::vector<std::string> words;
    collect_words(*vmlinux, words);
    vmlinux.reset();
    std::size_t modules = 0;
    fs::path modules_dir = kernel.modules.lexically_relative(kernel.root);
    tree.walk(modules_dir, [&](const RootDir::Entry& entry) {
        std::string name = fs::path(entry.path).filename().string();
        if (!S_ISREG(entry.info.st_mode) || name.find(".ko") == std::string::npos) return true;
        std::string bytes = tree.read(entry.path);
        if (name.ends_with(".ko")) {
            collect_words(bytes, words);
            ++modules;
        } else if (auto plain = decompress(bytes)) { // .ko.xz, .ko.zst, .ko.gz
            collect_words(*plain, words);
            ++modules;
        }
        return true;
    });
    KernelWords result(std::move(words));
    log::debug("kernel {}: {} words from its image and {} modules", kernel.version, result.reversed().size(), modules);
    if (!cached.empty()) {
        std::string body;
        for (const auto& word : result.reversed()) body += word + "\n";
        if (!body.empty()) body.pop_back();
        try {
            write_file_atomic(cached, sha256_hex(body) + "\n" + body);
        } catch (const Error& e) {
            log::warn("the words of kernel {} are not cached: {}", kernel.version, e.what());
        }
    }
    return result;
}

} // namespace imgbuild::customize
