// The fetch stage. Packages are named in the cache by their checksum, so two locks that share a
// package share the file, and a file is trusted only after it has been hashed again: a cache that
// was damaged (a disk error, a hand edit) heals on the next fetch instead of poisoning an image.

#include "imgbuild/fetch/fetch.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "imgbuild/core/download.hpp"
#include "imgbuild/core/log.hpp"

namespace imgbuild::fetch {
namespace {

namespace fs = std::filesystem;

std::string file_name(const std::string& url) {
    auto slash = url.rfind('/');
    return slash == std::string::npos ? url : url.substr(slash + 1);
}

// Verifies the cached files in parallel; returns for each package whether its cached file is good.
std::vector<bool> verify_cached(const resolve::Lock& lock, const std::vector<fs::path>& files, unsigned parallel) {
    std::vector<bool> good(files.size(), false);
    std::vector<char> result(files.size(), 0);
    std::atomic<std::size_t> next{0};
    auto work = [&] {
        for (std::size_t i; (i = next++) < files.size();) {
            std::error_code ec;
            if (!fs::exists(fs::symlink_status(files[i], ec))) continue;
            const auto& package = lock.packages[i];
            // A regular file only (a link put in its place is damage too), of the lock's size and checksum.
            bool size_ok = package.size == 0 || !fs::is_regular_file(fs::symlink_status(files[i], ec)) ||
                           fs::file_size(files[i], ec) == package.size;
            bool hash_ok = size_ok && checksum_cached_file(files[i], package.checksum.type) == package.checksum;
            if (hash_ok) {
                result[i] = 1;
            } else {
                log::warn("discarding the cached {} {} ('{}'): it no longer matches the lock's checksum", package.name,
                          package.version, files[i].string());
                fs::remove(files[i], ec);
            }
        }
    };
    std::vector<std::thread> threads;
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned t = 1; t < std::clamp(parallel, 1u, cores); ++t) threads.emplace_back(work);
    work();
    for (auto& thread : threads) thread.join();
    for (std::size_t i = 0; i < files.size(); ++i) good[i] = result[i] != 0;
    return good;
}

void draw_progress(const DownloadProgress& progress, std::chrono::steady_clock::time_point start) {
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double mib = static_cast<double>(progress.bytes_done) / (1 << 20);
    double total = static_cast<double>(progress.bytes_total) / (1 << 20);
    int width = 30;
    int filled = progress.bytes_total ? static_cast<int>(width * mib / total) : 0;
    std::fprintf(stderr, "\r[%s%s] %zu/%zu packages  %.1f/%.1f MiB  %.1f MiB/s ",
                 std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 std::string(static_cast<std::size_t>(width - std::min(width, filled)), ' ').c_str(),
                 progress.files_done, progress.files_total, mib, total, seconds > 0 ? mib / seconds : 0.0);
    std::fflush(stderr);
}

} // namespace

fs::path cached_package(const fs::path& cache_dir, const resolve::LockedPackage& package) {
    return cache_dir / "packages" / fmt::format("{}-{}", package.checksum.hex, file_name(package.url));
}

FetchResult fetch(const resolve::Lock& lock, const FetchOptions& options) {
    auto start = std::chrono::steady_clock::now();
    FetchResult result;
    for (const auto& package : lock.packages) {
        result.files.push_back(cached_package(options.cache_dir, package));
        result.bytes += package.size;
    }
    auto good = verify_cached(lock, result.files, options.parallel);

    std::vector<DownloadRequest> requests;
    std::vector<std::string> missing;
    for (std::size_t i = 0; i < lock.packages.size(); ++i) {
        if (good[i]) {
            ++result.cached;
            continue;
        }
        const auto& package = lock.packages[i];
        if (options.offline) {
            missing.push_back(fmt::format("{} {} ({})", package.name, package.version, package.arch));
            continue;
        }
        requests.push_back({package.url, result.files[i], package.checksum,
                            package.size ? std::optional(package.size) : std::nullopt, false,
                            fmt::format("package {} {}", package.name, package.version)});
    }
    if (!missing.empty())
        throw FetchError("Failed to fetch offline: {} package{} not in the cache (run once without --offline):\n  {}",
                         missing.size(), missing.size() == 1 ? " is" : "s are", fmt::join(missing, "\n  "));

    DownloadOptions download_options;
    download_options.parallel = options.parallel;
    if (options.progress) download_options.progress = [&](const DownloadProgress& p) { draw_progress(p, start); };
    auto results = download(requests, download_options);
    if (options.progress && !requests.empty()) std::fputc('\n', stderr);
    for (const auto& r : results) result.downloaded_bytes += r.bytes;
    result.downloaded = requests.size();
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

} // namespace imgbuild::fetch
