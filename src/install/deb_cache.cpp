// Repacked Debian packages for fast installs. dpkg decompresses each data.tar.xz on one core, and for
// the default node that is most of the install. Each .deb is repacked once, in parallel, with the same
// debian-binary and control members and an uncompressed data.tar (dpkg reads those since 1.17.6), and
// cached beside the original under the same checksum-based name: warm installs skip xz entirely.
// What dpkg installs is unchanged: the same files, and the control member (md5sums, scripts) byte
// for byte. A repacked file's sha256 is recorded beside it as it is written (FILE.sha256) and checked
// before a later run uses it: a damaged one is made again, never installed.

#include "deb_cache.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>

#include <fmt/format.h>

#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/error.hpp"
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

// libarchive's output, written to the file and hashed on the way.
struct HashedOutput {
    int fd;
    Hasher hasher{DigestType::sha256};
};

la_ssize_t write_hashed(archive* writer, void* data, const void* buffer, size_t size) {
    auto* out = static_cast<HashedOutput*>(data);
    const char* bytes = static_cast<const char*>(buffer);
    for (size_t done = 0; done < size;) {
        ssize_t n = ::write(out->fd, bytes + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int saved = errno;
            archive_set_error(writer, saved, "%s", errno_text(saved).c_str());
            return -1;
        }
        done += static_cast<size_t>(n);
    }
    out->hasher.update(buffer, size);
    return static_cast<la_ssize_t>(size);
}

// Writes the repacked package to `target` and returns its sha256.
std::string repack(const fs::path& deb, const fs::path& target) {
    // The decompressed data.tar goes to a scratch file first: an ar member's size comes before its bytes.
    fs::path scratch = target.string() + ".data-" + std::to_string(::getpid()) + "-" +
                       std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()));
    RemoveOnExit remove_scratch{scratch};

    std::vector<Member> members;
    la_int64_t data_size = 0, data_mtime = 0;
    // The members before data.tar are kept in memory; the decompressed data.tar goes to the scratch file.
    auto data = [&](archive* reader, archive_entry* member) {
        data_mtime = archive_entry_mtime(member);
        archive_entry* raw = nullptr;
        wrap::archive_check(reader, archive_read_next_header(reader, &raw),
                            fmt::format("decompress the data of '{}'", deb.string()));
        wrap::File out(std::fopen(scratch.c_str(), "w"));
        if (!out) throw SysError<Error>(errno, "create '{}'", scratch.string());
        char buffer[1 << 16];
        la_ssize_t n;
        while ((n = archive_read_data(reader, buffer, sizeof buffer)) > 0) {
            if (std::fwrite(buffer, 1, static_cast<std::size_t>(n), out.get()) != static_cast<std::size_t>(n))
                throw SysError<Error>(errno, "write '{}'", scratch.string());
            data_size += n;
        }
        wrap::archive_check(reader, static_cast<int>(n), fmt::format("decompress the data of '{}'", deb.string()));
    };
    wrap::read_deb_data(deb, wrap::DebData::raw, data, [&](archive* outer, archive_entry* member) {
        members.push_back({archive_entry_pathname(member), read_member(outer), archive_entry_mtime(member)});
    });
    if (members.size() < 2 || members[0].name != "debian-binary" || !members[1].name.starts_with("control.tar"))
        throw Error("Failed to repack '{}': it is not a Debian package (debian-binary, control.tar, data.tar)",
                    deb.string());

    AtomicFile file(target);
    wrap::ArchiveWriter writer(archive_write_new());
    archive_write_set_format_ar_svr4(writer.get());
    archive_write_set_bytes_in_last_block(writer.get(), 1);
    HashedOutput output{file.fd()};
    wrap::archive_check(writer.get(), archive_write_open(writer.get(), &output, nullptr, write_hashed, nullptr),
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
    return output.hasher.hex();
}

} // namespace

std::vector<fs::path> uncompressed_debs(const std::vector<fs::path>& debs, const fs::path& cache_dir,
                                        unsigned parallel) {
    std::vector<fs::path> result;
    std::vector<std::size_t> cached;
    for (std::size_t i = 0; i < debs.size(); ++i) {
        result.push_back(cache_dir / debs[i].filename());
        std::error_code ec;
        if (fs::exists(fs::symlink_status(result.back(), ec))) cached.push_back(i);
    }
    unsigned threads = std::clamp(parallel, 1u, std::max(1u, std::thread::hardware_concurrency()));
    auto run = [threads](std::size_t count, const std::function<void(std::size_t)>& task) {
        std::atomic<std::size_t> next{0};
        auto work = [&] {
            for (std::size_t k; (k = next++) < count;) task(k);
        };
        std::vector<std::thread> helpers;
        for (unsigned t = 1; t < threads && t < count; ++t) helpers.emplace_back(work);
        work();
        for (auto& helper : helpers) helper.join();
    };

    // What an earlier run repacked is used only when it is still the file it recorded.
    std::vector<char> good(debs.size(), 0);
    run(cached.size(), [&](std::size_t k) {
        std::size_t i = cached[k];
        if (matches_recorded_digest(result[i])) {
            good[i] = 1;
            return;
        }
        std::error_code ec;
        if (!recorded_digest(result[i]) && fs::is_regular_file(fs::symlink_status(result[i], ec)))
            log::debug("repacking '{}' again: it has no digest record (an older imgbuild made it)", result[i].string());
        else
            log::warn("discarding the repacked package '{}': it no longer matches the digest recorded when it was made",
                      result[i].string());
        discard_cached_file(result[i]);
    });
    std::vector<std::size_t> missing;
    for (std::size_t i = 0; i < debs.size(); ++i)
        if (!good[i]) missing.push_back(i);
    if (missing.empty()) return result;

    fs::create_directories(cache_dir);
    std::vector<std::string> errors(missing.size());
    run(missing.size(), [&](std::size_t k) {
        try {
            const fs::path& target = result[missing[k]];
            // The record is removed first and written last: a file without one is never trusted.
            discard_cached_file(target);
            record_digest(target, repack(debs[missing[k]], target));
        } catch (const std::exception& e) {
            errors[k] = e.what();
        }
    });
    for (const auto& error : errors)
        if (!error.empty()) throw Error("{}", error);
    log::debug("repacked {} packages with uncompressed data", missing.size());
    return result;
}

} // namespace imgbuild::install
