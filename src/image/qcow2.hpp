#pragma once
// A compressed qcow2 (version 3, 1 MiB clusters, zstd or zlib) written from a raw disk: the clusters are
// compressed on every core but laid out in the disk's order, so the file is the same bytes whatever
// the threads did; and a cluster whose raw bytes an earlier image of the same recipe had is copied from
// that image instead of compressed again (ClusterCache). qemu-img writes the uncompressed qcow2.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "imgbuild/core/fd.hpp"
#include "imgbuild/core/files.hpp"

namespace imgbuild::image {

constexpr std::uint64_t qcow2_cluster_size = 1 << 20;

// Where each cluster of a written qcow2 is, by the sha256 of its raw bytes.
struct ClusterIndex {
    struct Entry {
        std::uint64_t offset = 0; // of the compressed bytes in the file
        std::uint32_t length = 0;
        bool stored = false; // incompressible: the file holds the raw bytes (a cluster of its own)
    };
    std::unordered_map<std::string, Entry> clusters;

    nlohmann::json to_json() const;
    static ClusterIndex from_json(const nlohmann::json& json);
};

// The compressed clusters of an earlier image: its file, open, and its index. With `verify`, each
// cluster copied from it is decompressed and compared with the raw bytes first (one that differs is
// compressed afresh): for a file that may have changed since it was written.
struct ClusterSource {
    Fd file;
    ClusterIndex index;
    bool verify = false;
};

struct Qcow2Options {
    std::string compression = "zstd"; // or zlib
    unsigned threads = 1;
    const ClusterSource* reuse = nullptr; // clusters to copy rather than compress
};

struct Qcow2Result {
    std::uint64_t clusters = 0;   // guest clusters that are not all zeros
    std::uint64_t compressed = 0; // compressed by this run
    std::uint64_t reused = 0;     // copied from the earlier image
    std::uint64_t stored = 0;     // incompressible, stored as they are
    std::uint64_t damaged = 0;    // found changed in the earlier image (verify), compressed afresh
    ClusterIndex index;           // of the new file
};

// The compressor and its settings ("zstd 1.5.4 level 3"): a cluster compressed by another is not
// reused, so a reused cluster is the bytes this one would write.
std::string compressor_identity(const std::string& compression);

// Writes `raw` as a compressed qcow2 into `out` (a new, empty file). Throws ImageError.
Qcow2Result write_compressed_qcow2(const std::filesystem::path& raw, int out, const std::filesystem::path& out_name,
                                   const Qcow2Options& options);

// The last compressed qcow2 of an image (by name, compressor and disk size) in the cache:
// image/<key>.qcow2, a hardlink of (else a copy of) the output file, and image/<key>.json, its index,
// the file's identity (device, inode, size, modification and change times) and the digest of both. A
// file whose size or modification time changed (booted read-write, for one) is not used. One whose
// change time alone moved (its link count changed when the output was removed, or its bytes were
// edited and the modification time set back, which no one can do to the change time) is used with
// every copied cluster verified (ClusterSource::verify).
class ClusterCache {
public:
    ClusterCache(std::filesystem::path dir, std::string key) : m_dir(std::move(dir)), m_key(std::move(key)) {}
    const std::string& key() const { return m_key; }
    // The earlier image's clusters, or nullptr (none, or it changed).
    std::unique_ptr<ClusterSource> open() const;
    // Remembers `qcow2` (complete, under its final name) and its index for the next build.
    void remember(const std::filesystem::path& qcow2, const ClusterIndex& index) const;

private:
    std::filesystem::path m_dir;
    std::string m_key;
};

} // namespace imgbuild::image
