#pragma once
// Downloads over http, https and file URLs (libcurl behind this header), in parallel, each file
// verified before it gets its final name. Repository metadata (resolve) and packages (fetch) use it.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/error.hpp"

namespace imgbuild {

// A download that failed (unreachable, HTTP error, wrong size or checksum). Exit code 1.
class FetchError : public Error {
public:
    using Error::Error;
};

struct DownloadRequest {
    std::string url;
    std::filesystem::path destination;
    // Verified before the file is renamed to `destination`; a mismatch discards it.
    std::optional<Checksum> checksum;
    std::optional<std::uint64_t> size;
    // Revalidate an existing destination with If-None-Match / If-Modified-Since (the validators are
    // kept beside it in DESTINATION.http); "304 Not Modified" leaves it as it is.
    bool conditional = false;
    // How messages name the file ("repo 'bullseye' InRelease"); the URL when empty.
    std::string label;
};

struct DownloadResult {
    bool not_modified = false;
    std::uint64_t bytes = 0; // transferred in this run (a resumed file counts the rest only)
};

struct DownloadProgress {
    std::size_t files_done = 0;
    std::size_t files_total = 0;
    std::uint64_t bytes_done = 0;
    std::uint64_t bytes_total = 0; // of the requests that give a size
};

struct DownloadOptions {
    unsigned parallel = 4;
    unsigned retries = 3; // for transient failures (connection, timeouts, HTTP 5xx and 429), with backoff
    std::chrono::milliseconds retry_delay{500};            // the first backoff; it doubles with each retry
    std::function<void(const DownloadProgress&)> progress; // called at most ten times a second
};

// Runs every request, `parallel` at a time. A file is written to DESTINATION.part (resumed when one is
// left from an interrupted run and the server supports ranges) and renamed once verified. Throws
// FetchError naming every failed request once all have finished.
std::vector<DownloadResult> download(std::span<const DownloadRequest> requests, const DownloadOptions& options = {});

} // namespace imgbuild
