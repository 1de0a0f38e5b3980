// Repacked Debian packages for fast installs. dpkg decompresses each data.tar.xz on one core, and for
// the default node that is most of the install. Each .deb is repacked once, in parallel, with the same
// debian-binary and control members and an uncompressed data.tar (dpkg reads those since 1.17.6), and
// cached beside the original under the same checksum-based name: warm installs skip xz entirely.
// What dpkg installs is unchanged: the same files, and the control member (md5sums, scripts) byte
// for byte.

#include "deb_cache.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "wrap/archive.hpp"

namespace imgbuild::install {
namespace {

namespace fs = std::filesystem;

struct Member {
    std::string name;
    std::string bytes;
    la_int64_t mtime = 0;
};

// Reads the current member of `outer` into memory (debian-binary and control.tar are small).
std::string read_member(archive* outer) {
    std::string bytes;
    char buffer[1 << 16];
    for (la_ssize_t n; (n = archive_read_data(outer, buffer, sizeof buffer)) > 0;)
        bytes.append(buffer, static_cast<std::size_t>(n));
    return bytes;
}

void write_member(archive* out, const std::string& name, la_int64_t size, la_int64_t mtime) {
    wrap::ArchiveEntry entry(archive_entry_new());
    archive_entry_set_pathname(entry.get(), name.c_str());
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0644);
    archive_entry_set_size(entry.get(), size);
    archive_entry_set_mtime(entry.get(), mtime, 0);
    wrap::archive_check(out, archive_write_header(out, entry.get()), fmt::format("write the member {}", name));
}

void repack(const fs::path& deb, const fs::path& target) {
    wrap::ArchiveReader outer(archive_read_new());
    archive_read_support_format_ar(outer.get());
    wrap::archive_check(outer.get(), archive_read_open_filename(outer.get(), deb.c_str(), 1 << 16),
                        fmt::format("open '{}'", deb.string()));

    // The decompressed data.tar goes to a scratch file first: an ar member's size comes before its bytes.
    fs::path scratch = target.string() + ".data-" + std::to_string(::getpid()) + "-" +
                       std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()));
    struct Remove {
        const fs::path& path;
        ~Remove() {
            std::error_code ec;
            fs::remove(path, ec);
        }
    } remove_scratch{scratch};

    std::vector<Member> members;
    la_int64_t data_size = 0, data_mtime = 0;
    archive_entry* entry = nullptr;
    while (archive_read_next_header(outer.get(), &entry) == ARCHIVE_OK) {
        std::string name = archive_entry_pathname(entry);
        if (!name.starts_with("data.tar")) {
            members.push_back({name, read_member(outer.get()), archive_entry_mtime(entry)});
            continue;
        }
        data_mtime = archive_entry_mtime(entry);
        wrap::Nested nested{outer.get(), {}};
        wrap::ArchiveReader data(archive_read_new());
        archive_read_support_filter_all(data.get());
        archive_read_support_format_raw(data.get());
        wrap::archive_check(data.get(), archive_read_open(data.get(), &nested, nullptr, wrap::read_nested, nullptr),
                            fmt::format("read the data of '{}'", deb.string()));
        archive_entry* raw = nullptr;
        wrap::archive_check(data.get(), archive_read_next_header(data.get(), &raw),
                            fmt::format("decompress the data of '{}'", deb.string()));
        wrap::File out(std::fopen(scratch.c_str(), "w"));
        if (!out) throw Error("Failed to create '{}': {}", scratch.string(), std::strerror(errno));
        char buffer[1 << 16];
        la_ssize_t n;
        while ((n = archive_read_data(data.get(), buffer, sizeof buffer)) > 0) {
            if (std::fwrite(buffer, 1, static_cast<std::size_t>(n), out.get()) != static_cast<std::size_t>(n))
                throw Error("Failed to write '{}': {}", scratch.string(), std::strerror(errno));
            data_size += n;
        }
        wrap::archive_check(data.get(), static_cast<int>(n), fmt::format("decompress the data of '{}'", deb.string()));
        break; // data.tar is the last member dpkg reads
    }
    if (members.size() < 2 || members[0].name != "debian-binary" || !members[1].name.starts_with("control.tar"))
        throw Error("Failed to repack '{}': it is not a Debian package (debian-binary, control.tar, data.tar)",
                    deb.string());

    AtomicFile file(target);
    wrap::ArchiveWriter writer(archive_write_new());
    archive_write_set_format_ar_svr4(writer.get());
    archive_write_set_bytes_in_last_block(writer.get(), 1);
    wrap::archive_check(writer.get(), archive_write_open_fd(writer.get(), file.fd()),
                        fmt::format("write '{}'", target.string()));
    for (const auto& member : members) {
        write_member(writer.get(), member.name, static_cast<la_int64_t>(member.bytes.size()), member.mtime);
        archive_write_data(writer.get(), member.bytes.data(), member.bytes.size());
    }
    write_member(writer.get(), "data.tar", data_size, data_mtime);
    wrap::File in(std::fopen(scratch.c_str(), "r"));
    char buffer[1 << 16];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, in.get())) > 0;)
        if (archive_write_data(writer.get(), buffer, n) < 0)
            throw Error("Failed to write '{}': {}", target.string(), archive_error_string(writer.get()));
    wrap::archive_check(writer.get(), archive_write_close(writer.get()), fmt::format("write '{}'", target.string()));
    file.commit();
}

} // namespace

std::vector<fs::path> uncompressed_debs(const std::vector<fs::path>& debs, const fs::path& cache_dir,
                                        unsigned parallel) {
    std::vector<fs::path> result;
    std::vector<std::size_t> missing;
    for (std::size_t i = 0; i < debs.size(); ++i) {
        result.push_back(cache_dir / debs[i].filename());
        std::error_code ec;
        if (!fs::exists(result.back(), ec)) missing.push_back(i);
    }
    if (missing.empty()) return result;
    fs::create_directories(cache_dir);
    std::atomic<std::size_t> next{0};
    std::vector<std::string> errors(missing.size());
    auto work = [&] {
        for (std::size_t k; (k = next++) < missing.size();) {
            try {
                repack(debs[missing[k]], result[missing[k]]);
            } catch (const std::exception& e) {
                errors[k] = e.what();
            }
        }
    };
    std::vector<std::thread> threads;
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned t = 1; t < std::clamp(parallel, 1u, cores); ++t) threads.emplace_back(work);
    work();
    for (auto& thread : threads) thread.join();
    for (const auto& error : errors)
        if (!error.empty()) throw Error("{}", error);
    log::debug("repacked {} packages with uncompressed data", missing.size());
    return result;
}

} // namespace imgbuild::install
