// The compressed qcow2 writer (docs/interop/qcow2.txt in QEMU's sources). The file's layout:
//
//   cluster 0               the header (version 3, refcount_order 4, compression type)
//   then                    the refcount table, the refcount blocks, the L1 table, the L2 tables
//   then                    the guest's clusters in order: compressed ones back to back at byte
//                           granularity (as QEMU packs them), an incompressible one stored as it is in
//                           a host cluster of its own; all-zero clusters are left unallocated
//
// The metadata's size depends only on the disk's size and how many of its clusters hold data, so it is
// reserved first and written last, and the data streams after it. Threads compress a window of
// clusters ahead of the one writing, which takes their results in order.

#include "qcow2.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "disk.hpp"
#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/image/image.hpp"

namespace imgbuild::image {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr std::uint64_t cluster_bits = 20;
constexpr std::uint64_t cluster_size = qcow2_cluster_size;
constexpr std::uint64_t sector = 512;
constexpr std::uint64_t l2_entries = cluster_size / 8;
constexpr std::uint64_t refcount_entries = cluster_size / 2; // 16-bit refcounts
constexpr std::uint64_t copied = 1ull << 63;                 // refcount exactly one
constexpr std::uint64_t compressed_flag = 1ull << 62;
constexpr std::uint64_t csize_shift = 62 - (cluster_bits - 8); // the compressed descriptor's sector count
constexpr std::uint64_t offset_mask = (1ull << csize_shift) - 1;
constexpr std::uint32_t header_length = 112;
constexpr int zstd_level = ZSTD_CLEVEL_DEFAULT; // QEMU's: it sets no level
constexpr int zlib_window = -12;                // raw deflate, 4 KiB window: what QEMU inflates
// zlib's fastest level, not QEMU's default (6): the default disk's zlib qcow2 takes 3.0 times the zstd
// one's time instead of 4.1, for 7.5 % more bytes, and the clouds' zlib qcow2 is written in every build
// beside the zstd one (docs/benchmarks.md); any level inflates the same.
constexpr int zlib_level = Z_BEST_SPEED;

std::uint64_t round_up(std::uint64_t value, std::uint64_t to) { return (value + to - 1) / to * to; }

void put_be(std::string& buffer, std::uint64_t at, std::uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i)
        buffer[at + static_cast<std::uint64_t>(i)] = static_cast<char>(value >> (8 * (bytes - 1 - i)));
}

// Reads up to `size` bytes at `offset`; fewer only at the end of the file.
std::size_t pread_full(int fd, char* data, std::size_t size, std::uint64_t offset, const fs::path& file) {
    std::size_t done = 0;
    while (done < size) {
        ssize_t n = ::pread(fd, data + done, size - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SysError<ImageError>(errno, "read '{}'", file.string());
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    return done;
}

bool all_zeros(const std::string& data) {
    static const std::string zeros(cluster_size, '\0');
    return std::memcmp(data.data(), zeros.data(), data.size()) == 0;
}

// The guest clusters that overlap the raw file's data (SEEK_DATA/SEEK_HOLE); every cluster where the
// filesystem cannot tell.
std::vector<std::uint64_t> data_clusters(int fd, std::uint64_t size) {
    std::vector<std::uint64_t> result;
    std::uint64_t count = (size + cluster_size - 1) / cluster_size;
    off_t at = 0;
    while (static_cast<std::uint64_t>(at) < size) {
        off_t data = ::lseek(fd, at, SEEK_DATA);
        if (data < 0 && errno == ENXIO) break;
        if (data < 0) {
            result.clear();
            for (std::uint64_t i = 0; i < count; ++i) result.push_back(i);
            return result;
        }
        off_t hole = ::lseek(fd, data, SEEK_HOLE);
        if (hole < 0) hole = static_cast<off_t>(size);
        auto first = static_cast<std::uint64_t>(data) / cluster_size;
        auto last = (static_cast<std::uint64_t>(hole) + cluster_size - 1) / cluster_size;
        if (!result.empty() && result.back() >= first) first = result.back() + 1;
        for (std::uint64_t i = first; i < last && i < count; ++i) result.push_back(i);
        at = hole;
    }
    return result;
}

class Compressor {
public:
    explicit Compressor(const std::string& type) : m_zstd(type == "zstd") {
        if (m_zstd) {
            m_cctx = ZSTD_createCCtx();
            if (!m_cctx) throw ImageError("Failed to set up zstd");
            ZSTD_CCtx_setParameter(m_cctx, ZSTD_c_compressionLevel, zstd_level);
        } else {
            if (deflateInit2(&m_zlib, zlib_level, Z_DEFLATED, zlib_window, 9, Z_DEFAULT_STRATEGY) != Z_OK)
                throw ImageError("Failed to set up zlib");
        }
    }
    ~Compressor() {
        if (m_zstd)
            ZSTD_freeCCtx(m_cctx);
        else
            deflateEnd(&m_zlib);
    }
    Compressor(const Compressor&) = delete;
    Compressor& operator=(const Compressor&) = delete;

    // The compressed cluster, or false when it would not be smaller than a cluster (QEMU then stores
    // it as it is too).
    bool compress(const std::string& input, std::string& output) {
        output.resize(cluster_size - 1);
        if (m_zstd) {
            std::size_t n = ZSTD_compress2(m_cctx, output.data(), output.size(), input.data(), input.size());
            if (ZSTD_isError(n)) return false;
            output.resize(n);
            return true;
        }
        deflateReset(&m_zlib);
        m_zlib.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
        m_zlib.avail_in = static_cast<uInt>(input.size());
        m_zlib.next_out = reinterpret_cast<Bytef*>(output.data());
        m_zlib.avail_out = static_cast<uInt>(output.size());
        if (deflate(&m_zlib, Z_FINISH) != Z_STREAM_END) return false;
        output.resize(output.size() - m_zlib.avail_out);
        return true;
    }

private:
    bool m_zstd;
    ZSTD_CCtx* m_cctx = nullptr;
    z_stream m_zlib{};
};

struct Chunk {
    enum class Kind { zero, compressed, stored } kind = Kind::zero;
    std::string bytes;
    std::string digest;
    bool reused = false;
    bool damaged = false; // the earlier image's copy did not decompress to these bytes
};

// Whether `compressed` (a cluster of the earlier image) decompresses to exactly `raw`.
bool decompresses_to(const std::string& compressed, const std::string& raw, bool zstd) {
    thread_local std::string output;
    output.resize(cluster_size);
    if (zstd) {
        std::size_t n = ZSTD_decompress(output.data(), output.size(), compressed.data(), compressed.size());
        return !ZSTD_isError(n) && n == raw.size() && std::memcmp(output.data(), raw.data(), n) == 0;
    }
    z_stream stream{};
    if (inflateInit2(&stream, zlib_window) != Z_OK) return false;
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
    stream.avail_in = static_cast<uInt>(compressed.size());
    stream.next_out = reinterpret_cast<Bytef*>(output.data());
    stream.avail_out = static_cast<uInt>(output.size());
    int status = inflate(&stream, Z_FINISH);
    std::size_t n = output.size() - stream.avail_out;
    inflateEnd(&stream);
    return status == Z_STREAM_END && n == raw.size() && std::memcmp(output.data(), raw.data(), n) == 0;
}

// One guest cluster: read, and unless all zeros, copied from the earlier image or compressed.
Chunk make_chunk(int raw, const fs::path& raw_name, std::uint64_t guest, Compressor& compressor,
                 const ClusterSource* reuse, bool zstd) {
    std::string input(cluster_size, '\0');
    // The last cluster of a disk whose size is not a multiple is padded with zeros, as QEMU does.
    pread_full(raw, input.data(), input.size(), guest * cluster_size, raw_name);
    Chunk chunk;
    if (all_zeros(input)) return chunk;
    chunk.digest = sha256_hex(input);
    if (reuse) {
        auto it = reuse->index.clusters.find(chunk.digest);
        if (it != reuse->index.clusters.end()) {
            const auto& entry = it->second;
            if (entry.stored) {
                chunk.kind = Chunk::Kind::stored;
                chunk.bytes = std::move(input);
                chunk.reused = true;
                return chunk;
            }
            std::string bytes(entry.length, '\0');
            if (pread_full(reuse->file.get(), bytes.data(), bytes.size(), entry.offset, "the cached image") ==
                    bytes.size() &&
                (!reuse->verify || decompresses_to(bytes, input, zstd))) {
                chunk.kind = Chunk::Kind::compressed;
                chunk.bytes = std::move(bytes);
                chunk.reused = true;
                return chunk;
            }
            chunk.damaged = true;
        }
    }
    if (compressor.compress(input, chunk.bytes)) {
        chunk.kind = Chunk::Kind::compressed;
    } else {
        chunk.kind = Chunk::Kind::stored;
        chunk.bytes = std::move(input);
    }
    return chunk;
}

struct Layout {
    std::uint64_t refcount_table = 0; // offsets
    std::uint64_t refcount_table_clusters = 0;
    std::uint64_t refcount_blocks = 0;
    std::uint64_t refcount_block_count = 0;
    std::uint64_t l1 = 0;
    std::uint64_t l1_size = 0; // entries
    std::uint64_t l2 = 0;
    std::vector<std::uint64_t> l2_of; // L1 index → the L2 table's offset (0: none)
    std::uint64_t data = 0;
};

Layout plan(std::uint64_t disk_size, const std::vector<std::uint64_t>& guests) {
    Layout layout;
    std::uint64_t guest_clusters = (disk_size + cluster_size - 1) / cluster_size;
    layout.l1_size = (guest_clusters + l2_entries - 1) / l2_entries;
    std::vector<bool> used(layout.l1_size, false);
    for (auto guest : guests) used[guest / l2_entries] = true;
    std::uint64_t l2_tables = static_cast<std::uint64_t>(std::count(used.begin(), used.end(), true));
    std::uint64_t l1_clusters = std::max<std::uint64_t>(1, round_up(layout.l1_size * 8, cluster_size) / cluster_size);
    // Enough refcount blocks for the largest the file can be: the metadata, and each data cluster
    // stored whole after a partly used one.
    std::uint64_t blocks = 1, table_clusters = 1;
    for (;;) {
        std::uint64_t metadata = 1 + table_clusters + blocks + l1_clusters + l2_tables;
        std::uint64_t most = metadata + 2 * guests.size() + 1;
        std::uint64_t need_blocks = (most + refcount_entries - 1) / refcount_entries;
        std::uint64_t need_table = std::max<std::uint64_t>(1, round_up(need_blocks * 8, cluster_size) / cluster_size);
        if (need_blocks <= blocks && need_table <= table_clusters) break;
        blocks = std::max(blocks, need_blocks);
        table_clusters = std::max(table_clusters, need_table);
    }
    layout.refcount_table = cluster_size;
    layout.refcount_table_clusters = table_clusters;
    layout.refcount_blocks = layout.refcount_table + table_clusters * cluster_size;
    layout.refcount_block_count = blocks;
    layout.l1 = layout.refcount_blocks + blocks * cluster_size;
    layout.l2 = layout.l1 + l1_clusters * cluster_size;
    layout.l2_of.assign(layout.l1_size, 0);
    std::uint64_t next = layout.l2;
    for (std::uint64_t i = 0; i < layout.l1_size; ++i)
        if (used[i]) {
            layout.l2_of[i] = next;
            next += cluster_size;
        }
    layout.data = next;
    return layout;
}

} // namespace

json ClusterIndex::to_json() const {
    json result = json::object();
    for (const auto& [digest, entry] : clusters) result[digest] = {entry.offset, entry.length, entry.stored ? 1 : 0};
    return result;
}

ClusterIndex ClusterIndex::from_json(const json& value) {
    ClusterIndex index;
    for (const auto& [digest, entry] : value.items())
        index.clusters[digest] = {entry.at(0).get<std::uint64_t>(), entry.at(1).get<std::uint32_t>(),
                                  entry.at(2).get<int>() != 0};
    return index;
}

std::string compressor_identity(const std::string& compression) {
    if (compression == "zstd") return fmt::format("zstd {} level {}", ZSTD_versionString(), zstd_level);
    return fmt::format("zlib {} level {} window {}", zlibVersion(), zlib_level, zlib_window);
}

namespace {

// What the writer needs of one run: the raw disk, the output, and how to compress.
struct Writer {
    int raw;
    const fs::path& raw_name;
    int out;
    const fs::path& out_name;
    const Qcow2Options& options;
    const std::vector<std::uint64_t>& guests;
};

// Where the clusters went: compressed ones with where a reader of each stops (its last sector's end),
// stored ones, and the end of the data.
struct Placement {
    struct Placed {
        std::uint64_t offset;
        std::uint64_t read_end;
    };
    std::vector<Placed> compressed;
    std::vector<std::uint64_t> stored;
    std::uint64_t at = 0;
};

// The chunks of guests[begin, begin + window), made on `threads` threads.
std::vector<Chunk> make_window(const Writer& writer, std::size_t begin, std::size_t window, unsigned threads) {
    const auto& guests = writer.guests;
    std::size_t end = std::min(guests.size(), begin + window);
    std::vector<Chunk> chunks(end - begin);
    std::atomic<std::size_t> next{begin};
    auto work = [&] {
        Compressor compressor(writer.options.compression);
        for (std::size_t i; (i = next++) < end;)
            chunks[i - begin] = make_chunk(writer.raw, writer.raw_name, guests[i], compressor, writer.options.reuse,
                                           writer.options.compression == "zstd");
    };
    std::vector<std::future<void>> helpers;
    for (unsigned t = 1; t < threads && t < end - begin; ++t) helpers.push_back(std::async(std::launch::async, work));
    std::exception_ptr failure;
    try {
        work();
    } catch (...) {
        failure = std::current_exception();
    }
    for (auto& helper : helpers) try {
            helper.get();
        } catch (...) {
            if (!failure) failure = std::current_exception();
        }
    if (failure) std::rethrow_exception(failure);
    return chunks;
}

// Writes one chunk at placement.at and returns its L2 entry.
std::uint64_t place_chunk(const Writer& writer, const Chunk& chunk, Placement& placement, Qcow2Result& result) {
    std::uint64_t& at = placement.at;
    ++result.clusters;
    if (chunk.damaged) ++result.damaged;
    if (chunk.reused)
        ++result.reused;
    else if (chunk.kind == Chunk::Kind::compressed)
        ++result.compressed;
    std::uint64_t entry = 0;
    if (chunk.kind == Chunk::Kind::compressed) {
        std::uint64_t length = chunk.bytes.size();
        std::uint64_t sectors = (at + length - 1) / sector - at / sector; // beyond the first
        entry = compressed_flag | (sectors << csize_shift) | (at & offset_mask);
        placement.compressed.push_back({at, at / sector * sector + (sectors + 1) * sector});
        result.index.clusters[chunk.digest] = {at, static_cast<std::uint32_t>(length), false};
        pwrite_all(writer.out, chunk.bytes, at, writer.out_name);
        at += length;
    } else {
        ++result.stored;
        at = round_up(at, cluster_size);
        entry = copied | at;
        placement.stored.push_back(at);
        result.index.clusters[chunk.digest] = {at, static_cast<std::uint32_t>(cluster_size), true};
        pwrite_all(writer.out, chunk.bytes, at, writer.out_name);
        at += cluster_size;
    }
    return entry;
}

// Threads make the chunks of a window of clusters while this one writes the window before.
Placement write_clusters(const Writer& writer, std::uint64_t data, std::vector<std::string>& l2_tables,
                         Qcow2Result& result) {
    const auto& guests = writer.guests;
    unsigned threads = std::max(1u, writer.options.threads);
    std::size_t window = 4 * threads;
    Placement placement;
    placement.at = data;
    auto make = [&](std::size_t begin) { return make_window(writer, begin, window, threads); };
    std::future<std::vector<Chunk>> pending;
    if (!guests.empty()) pending = std::async(std::launch::async, make, std::size_t{0});
    for (std::size_t begin = 0; begin < guests.size(); begin += window) {
        auto chunks = pending.get();
        if (begin + window < guests.size()) pending = std::async(std::launch::async, make, begin + window);
        for (std::size_t i = 0; i < chunks.size(); ++i) {
            if (chunks[i].kind == Chunk::Kind::zero) continue;
            std::uint64_t guest = guests[begin + i];
            std::uint64_t entry = place_chunk(writer, chunks[i], placement, result);
            put_be(l2_tables[guest / l2_entries], (guest % l2_entries) * 8, entry, 8);
        }
    }
    return placement;
}

// Refcounts: one for each metadata cluster and stored cluster; a compressed cluster counts once in
// every host cluster its sectors touch. Then the refcount blocks and table, the L2 tables and the L1.
void write_tables(const Writer& writer, const Layout& layout, const Placement& placement, std::uint64_t end,
                  const std::vector<std::string>& l2_tables) {
    const int out = writer.out;
    const fs::path& out_name = writer.out_name;
    std::uint64_t host_clusters = (end + cluster_size - 1) / cluster_size;
    if (host_clusters > layout.refcount_block_count * refcount_entries)
        throw ImageError("Failed to write '{}': more clusters than planned", out_name.string());
    std::vector<std::uint32_t> counts(host_clusters, 0);
    for (std::uint64_t c = 0; c < layout.data / cluster_size; ++c) counts[c] = 1;
    for (auto offset : placement.stored) ++counts[offset / cluster_size];
    for (const auto& placed : placement.compressed)
        for (std::uint64_t c = placed.offset / cluster_size; c <= (placed.read_end - 1) / cluster_size; ++c)
            ++counts[c];
    std::string blocks(layout.refcount_block_count * cluster_size, '\0');
    for (std::uint64_t c = 0; c < host_clusters; ++c) {
        if (counts[c] > 0xffff) throw ImageError("Failed to write '{}': a refcount overflows", out_name.string());
        put_be(blocks, c * 2, counts[c], 2);
    }
    std::string table(layout.refcount_table_clusters * cluster_size, '\0');
    for (std::uint64_t b = 0; b < layout.refcount_block_count; ++b)
        put_be(table, b * 8, layout.refcount_blocks + b * cluster_size, 8);
    std::string l1(round_up(layout.l1_size * 8, cluster_size), '\0');
    for (std::uint64_t i = 0; i < layout.l1_size; ++i)
        if (layout.l2_of[i]) {
            put_be(l1, i * 8, copied | layout.l2_of[i], 8);
            pwrite_all(out, l2_tables[i], layout.l2_of[i], out_name);
        }
    pwrite_all(out, l1, layout.l1, out_name);
    pwrite_all(out, blocks, layout.refcount_blocks, out_name);
    pwrite_all(out, table, layout.refcount_table, out_name);
}

void write_header(const Writer& writer, const Layout& layout, std::uint64_t disk_size) {
    std::string header(cluster_size, '\0');
    put_be(header, 0, 0x514649fb, 4); // "QFI\xfb"
    put_be(header, 4, 3, 4);
    put_be(header, 20, cluster_bits, 4);
    put_be(header, 24, disk_size, 8);
    put_be(header, 36, layout.l1_size, 4);
    put_be(header, 40, layout.l1, 8);
    put_be(header, 48, layout.refcount_table, 8);
    put_be(header, 56, layout.refcount_table_clusters, 4);
    bool zstd = writer.options.compression == "zstd";
    put_be(header, 72, zstd ? 1u << 3 : 0, 8); // incompatible: the compression type field
    put_be(header, 96, 4, 4);                  // 16-bit refcounts
    put_be(header, 100, header_length, 4);
    header[104] = zstd ? 1 : 0;
    // header_length is followed by the end of the header extensions (type 0, length 0): zeros.
    pwrite_all(writer.out, header, 0, writer.out_name);
}

} // namespace

Qcow2Result write_compressed_qcow2(const fs::path& raw_name, int out, const fs::path& out_name,
                                   const Qcow2Options& options) {
    if (options.compression != "zstd" && options.compression != "zlib")
        throw ImageError("Failed to write '{}': unknown compression '{}' (zstd, zlib)", out_name.string(),
                         options.compression);
    Fd raw_file(::open(raw_name.c_str(), O_RDONLY | O_CLOEXEC));
    int raw = raw_file.get();
    if (raw < 0) throw SysError<ImageError>(errno, "open '{}'", raw_name.string());
    struct stat info {};
    if (::fstat(raw, &info) != 0) throw SysError<ImageError>(errno, "stat '{}'", raw_name.string());
    auto disk_size = static_cast<std::uint64_t>(info.st_size);

    auto guests = data_clusters(raw, disk_size);
    Layout layout = plan(disk_size, guests);
    std::vector<std::string> l2_tables(layout.l1_size);
    for (std::uint64_t i = 0; i < layout.l1_size; ++i)
        if (layout.l2_of[i]) l2_tables[i].assign(cluster_size, '\0');

    Writer writer{raw, raw_name, out, out_name, options, guests};
    Qcow2Result result;
    Placement placement = write_clusters(writer, layout.data, l2_tables, result);
    if (result.damaged > 0)
        log::warn("the cached qcow2 had {} damaged cluster{} (they no longer decompress to the disk's bytes): "
                  "compressed afresh",
                  result.damaged, result.damaged == 1 ? "" : "s");
    // The last compressed cluster's reader reads to the end of its sector.
    std::uint64_t end = round_up(std::max(placement.at, layout.data), sector);
    if (::ftruncate(out, static_cast<off_t>(end)) != 0)
        throw SysError<ImageError>(errno, "size '{}'", out_name.string());
    write_tables(writer, layout, placement, end, l2_tables);
    write_header(writer, layout, disk_size);
    return result;
}

namespace {

json file_identity(const struct stat& info) {
    return {{"device", static_cast<std::uint64_t>(info.st_dev)},
            {"inode", static_cast<std::uint64_t>(info.st_ino)},
            {"size", static_cast<std::int64_t>(info.st_size)},
            {"mtime-ns", static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec},
            {"ctime-ns", static_cast<std::int64_t>(info.st_ctim.tv_sec) * 1000000000 + info.st_ctim.tv_nsec}};
}

std::string index_digest(const json& file, const json& clusters) {
    return sha256_hex(json{{"file", file}, {"clusters", clusters}}.dump());
}

} // namespace

std::unique_ptr<ClusterSource> ClusterCache::open() const {
    fs::path index_file = m_dir / (m_key + ".json");
    fs::path image = m_dir / (m_key + ".qcow2");
    std::error_code ec;
    if (!fs::exists(index_file, ec)) return nullptr;
    std::string reason;
    auto text = try_read_file(index_file, reason);
    json index = text ? json::parse(*text, nullptr, false) : json();
    if (!index.is_object() || !index.contains("file") || !index.contains("clusters") ||
        index.value("sha256", "") != index_digest(index["file"], index["clusters"])) {
        log::warn("image: ignoring the damaged cluster index '{}' of the cached qcow2", index_file.string());
        return nullptr;
    }
    auto source = std::make_unique<ClusterSource>();
    source->file.reset(::open(image.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!source->file) return nullptr;
    struct stat info {};
    if (::fstat(source->file.get(), &info) != 0 || !S_ISREG(info.st_mode)) return nullptr;
    const json& file = index["file"];
    json now = file_identity(info);
    for (const char* key : {"device", "inode", "size", "mtime-ns"})
        if (file.value(key, json()) != now[key]) {
            log::debug("image: the cached qcow2 {} changed since it was written ({}): not reused", image.string(), key);
            return nullptr;
        }
    // Only the change time moved: the link count changed (the output was removed) or the bytes were
    // edited with the modification time set back. Every cluster copied from it is checked.
    source->verify = file.value("ctime-ns", json()) != now["ctime-ns"];
    if (source->verify)
        log::debug("image: the cached qcow2 {} changed since it was written (its change time): every cluster "
                   "copied from it is verified",
                   image.string());
    try {
        source->index = ClusterIndex::from_json(index["clusters"]);
    } catch (const json::exception&) {
        return nullptr;
    }
    return source;
}

void ClusterCache::remember(const fs::path& qcow2, const ClusterIndex& index) const {
    fs::create_directories(m_dir);
    fs::path image = m_dir / (m_key + ".qcow2");
    fs::path temp = m_dir / fmt::format(".{}.{}.qcow2", m_key, ::getpid());
    fs::remove(temp);
    std::error_code ec;
    fs::create_hard_link(qcow2, temp, ec);
    if (ec) fs::copy_file(qcow2, temp); // another filesystem
    fs::rename(temp, image);
    struct stat info {};
    if (::stat(image.c_str(), &info) != 0) return;
    json file = file_identity(info);
    json clusters = index.to_json();
    std::string digest = index_digest(file, clusters);
    write_file_atomic(m_dir / (m_key + ".json"),
                      json{{"file", std::move(file)}, {"clusters", std::move(clusters)}, {"sha256", digest}}.dump());
}

} // namespace imgbuild::image
