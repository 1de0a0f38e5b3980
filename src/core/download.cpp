// Parallel downloads with libcurl's multi interface. Each transfer streams into DESTINATION.part while
// its checksum is computed, and is renamed only after size and checksum match, so the cache never holds
// a corrupt file under a final name. Interrupted transfers resume from the .part file.
//
// Several processes may share a cache (parallel CI jobs): a transfer holds an flock on its .part file
// from opening it until it is renamed or removed, and a process that finds the lock taken waits for it
// and then uses the other process's verified file instead of fetching it again.

#include "imgbuild/core/download.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "imgbuild/core/c_ptr.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/finally.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/version.hpp"

namespace imgbuild {
namespace {

using Clock = std::chrono::steady_clock;

using CurlEasy = CPtr<CURL, curl_easy_cleanup>;
using CurlMulti = CPtr<CURLM, curl_multi_cleanup>;
using CurlList = CPtr<curl_slist, curl_slist_free_all>;

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::filesystem::path part_path(const std::filesystem::path& destination) { return destination.string() + ".part"; }
std::filesystem::path validators_path(const std::filesystem::path& destination) {
    return destination.string() + ".http";
}

// One request through its attempts.
struct Transfer {
    const DownloadRequest* request = nullptr;
    std::size_t index = 0;
    unsigned attempt = 0;
    Clock::time_point not_before{};

    CurlEasy easy;
    CurlList headers;
    Fd fd; // the .part file, open (and so locked) while this attempt writes it
    std::optional<Hasher> hasher;
    std::uint64_t offset = 0;   // bytes already in the .part file when this attempt started
    std::uint64_t received = 0; // bytes written in this attempt
    bool too_large = false;
    bool waited = false; // another process held the .part file's lock
    long status = 0;
    std::string etag, last_modified;
    std::string failure;

    std::string label() const { return request->label.empty() ? request->url : request->label; }
};

size_t on_header(char* buffer, size_t size, size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    std::string_view line(buffer, size * count);
    auto value_of = [&](std::string_view name) -> std::optional<std::string> {
        if (line.size() <= name.size() || strncasecmp(line.data(), name.data(), name.size()) != 0) return std::nullopt;
        std::string value(line.substr(name.size()));
        value.erase(0, value.find_first_not_of(" \t"));
        value.erase(value.find_last_not_of(" \t\r\n") + 1);
        return value;
    };
    if (line.starts_with("HTTP/")) {
        transfer->etag.clear();
        transfer->last_modified.clear();
    } else if (auto etag = value_of("ETag:")) {
        transfer->etag = *etag;
    } else if (auto modified = value_of("Last-Modified:")) {
        transfer->last_modified = *modified;
    }
    return size * count;
}

size_t on_data(char* buffer, size_t size, size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    std::size_t length = size * count;
    const auto& expected = transfer->request->size;
    if (expected && transfer->offset + transfer->received + length > *expected) {
        transfer->too_large = true;
        return 0; // abort: more data than the metadata promised
    }
    const char* data = buffer;
    std::size_t left = length;
    while (left > 0) {
        ssize_t n = ::write(transfer->fd.get(), data, left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return 0;
        data += n;
        left -= static_cast<std::size_t>(n);
    }
    transfer->hasher->update(buffer, length);
    transfer->received += length;
    return length;
}

bool transient(CURLcode code, long status) {
    switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR: return true;
    case CURLE_HTTP_RETURNED_ERROR: return status >= 500 || status == 429 || status == 408;
    default: return false;
    }
}

class Session {
public:
    Session(std::span<const DownloadRequest> requests, const DownloadOptions& options)
        : m_requests(requests), m_options(options), m_results(requests.size()) {
        global_init();
        m_multi.reset(curl_multi_init());
        curl_multi_setopt(m_multi.get(), CURLMOPT_MAX_TOTAL_CONNECTIONS,
                          static_cast<long>(std::max(1u, options.parallel)));
        for (std::size_t i = 0; i < requests.size(); ++i) {
            auto transfer = std::make_unique<Transfer>();
            transfer->request = &requests[i];
            transfer->index = i;
            m_waiting.push_back(std::move(transfer));
            if (requests[i].size) m_progress.bytes_total += *requests[i].size;
        }
        m_progress.files_total = requests.size();
    }

    std::vector<DownloadResult> run() {
        while (!m_waiting.empty() || !m_running.empty()) {
            start_ready();
            int still_running = 0;
            curl_multi_perform(m_multi.get(), &still_running);
            collect_finished();
            report_progress(false);
            if (!m_running.empty())
                curl_multi_poll(m_multi.get(), nullptr, 0, 100, nullptr);
            else if (!m_waiting.empty())
                std::this_thread::sleep_until(next_start());
        }
        report_progress(true);
        if (!m_failures.empty()) {
            std::sort(m_failures.begin(), m_failures.end());
            throw FetchError(m_failures.size() == 1 ? m_failures.front()
                                                    : fmt::format("{} downloads failed:\n  {}", m_failures.size(),
                                                                  fmt::join(m_failures, "\n  ")));
        }
        return m_results;
    }

private:
    Clock::time_point next_start() const {
        auto earliest = Clock::now() + std::chrono::milliseconds(100);
        for (const auto& transfer : m_waiting) earliest = std::min(earliest, transfer->not_before);
        return earliest;
    }

    void start_ready() {
        auto now = Clock::now();
        for (auto it = m_waiting.begin();
             it != m_waiting.end() && m_running.size() < std::max(1u, m_options.parallel);) {
            if ((*it)->not_before > now) {
                ++it;
                continue;
            }
            auto transfer = std::move(*it);
            it = m_waiting.erase(it);
            switch (begin(*transfer)) {
            case Begun::running: m_running.push_back(std::move(transfer)); break;
            case Begun::locked: deferred.push_back(std::move(transfer)); break;
            case Begun::done:
            case Begun::failed: break;
            }
        }
        for (auto& transfer : deferred) m_waiting.push_back(std::move(transfer));
        deferred.clear();
    }

    enum class Begun { running, locked, done, failed };

    // Opens DESTINATION.part and takes its lock. False with the file closed when another process holds
    // it (it is downloading the same file) or when it cannot be opened (`transfer` failed then).
    bool open_part(Transfer& transfer, const std::filesystem::path& part, bool& locked) {
        locked = false;
        for (;;) {
            transfer.fd.reset(::open(part.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
            if (!transfer.fd) {
                fail(transfer, fmt::format("cannot write '{}': {}", part.string(), errno_text(errno)));
                return false;
            }
            if (::flock(transfer.fd.get(), LOCK_EX | LOCK_NB) != 0) {
                transfer.fd.close();
                locked = true;
                return false;
            }
            // The holder may have renamed or removed the file between our open and our lock: the lock
            // counts only if the name still leads to the locked file.
            struct stat held {
            }, named{};
            ::fstat(transfer.fd.get(), &held);
            if (::stat(part.c_str(), &named) == 0 && named.st_ino == held.st_ino && named.st_dev == held.st_dev)
                return true;
            transfer.fd.close();
        }
    }

    // After waiting for another process: its file, when it is there and verifies, is ours too.
    static bool verified_by_another(const DownloadRequest& request) {
        if (request.conditional || !request.checksum) return false;
        std::error_code ec;
        if (!std::filesystem::is_regular_file(request.destination, ec)) return false;
        if (request.size && std::filesystem::file_size(request.destination, ec) != *request.size) return false;
        try {
            return checksum_file(request.destination, request.checksum->type) == *request.checksum;
        } catch (const Error&) {
            return false;
        }
    }

    // Opens the .part file and starts the transfer.
    Begun begin(Transfer& transfer) {
        const DownloadRequest& request = *transfer.request;
        std::error_code ec;
        std::filesystem::create_directories(request.destination.parent_path(), ec);
        auto part = part_path(request.destination);
        bool locked = false;
        if (!open_part(transfer, part, locked)) {
            if (!locked) return Begun::failed;
            if (!transfer.waited) log::debug("{}: another process is downloading it; waiting", transfer.label());
            transfer.waited = true;
            transfer.not_before = Clock::now() + std::chrono::milliseconds(200);
            return Begun::locked;
        }
        if (transfer.waited && verified_by_another(request)) {
            std::filesystem::remove(part, ec);
            transfer.fd.close();
            ++m_progress.files_done;
            log::debug("{}: downloaded by another process", transfer.label());
            return Begun::done;
        }
        struct stat info {};
        ::fstat(transfer.fd.get(), &info);
        transfer.offset = request.conditional ? 0 : static_cast<std::uint64_t>(info.st_size);
        transfer.received = 0;
        transfer.too_large = false;
        if (request.size && transfer.offset > *request.size) transfer.offset = 0; // a stale, longer .part
        if (transfer.offset == 0 && ::ftruncate(transfer.fd.get(), 0) != 0) {
            fail(transfer, fmt::format("cannot write '{}': {}", part.string(), errno_text(errno)));
            return Begun::failed;
        }
        ::lseek(transfer.fd.get(), static_cast<off_t>(transfer.offset), SEEK_SET);
        transfer.hasher.emplace(request.checksum ? request.checksum->type : DigestType::sha256);
        if (transfer.offset > 0) hash_existing(transfer, part);

        transfer.easy.reset(curl_easy_init());
        CURL* easy = transfer.easy.get();
        curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
        curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(easy, CURLOPT_FAILONERROR, 1L);
        curl_easy_setopt(easy, CURLOPT_USERAGENT, fmt::format("imgbuild/{}", version).c_str());
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 30L);
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L); // abort a transfer stalled for a minute
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, &transfer);
        if (transfer.offset > 0)
            curl_easy_setopt(easy, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(transfer.offset));
        if (request.conditional) add_validators(transfer);
        curl_multi_add_handle(m_multi.get(), easy);
        return Begun::running;
    }

    void hash_existing(Transfer& transfer, const std::filesystem::path& part) {
        Fd fd(::open(part.c_str(), O_RDONLY | O_CLOEXEC));
        std::vector<char> buffer(1 << 20);
        std::uint64_t left = transfer.offset;
        while (fd && left > 0) {
            ssize_t n = ::read(fd.get(), buffer.data(), std::min<std::uint64_t>(buffer.size(), left));
            if (n <= 0) break;
            transfer.hasher->update(buffer.data(), static_cast<std::size_t>(n));
            left -= static_cast<std::uint64_t>(n);
        }
        log::debug("resuming {} at byte {}", transfer.label(), transfer.offset);
    }

    void add_validators(Transfer& transfer) {
        const auto& destination = transfer.request->destination;
        std::error_code ec;
        if (!std::filesystem::exists(destination, ec)) return;
        std::string reason;
        auto text = try_read_file(validators_path(destination), reason);
        if (!text) return;
        auto validators = nlohmann::json::parse(*text, nullptr, false);
        if (!validators.is_object()) return;
        curl_slist* list = nullptr;
        if (auto etag = validators.value("etag", ""); !etag.empty())
            list = curl_slist_append(list, ("If-None-Match: " + etag).c_str());
        if (auto modified = validators.value("last-modified", ""); !modified.empty())
            list = curl_slist_append(list, ("If-Modified-Since: " + modified).c_str());
        transfer.headers.reset(list);
        curl_easy_setopt(transfer.easy.get(), CURLOPT_HTTPHEADER, list);
    }

    void collect_finished() {
        int left = 0;
        while (CURLMsg* message = curl_multi_info_read(m_multi.get(), &left)) {
            if (message->msg != CURLMSG_DONE) continue;
            Transfer* transfer = nullptr;
            curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&transfer));
            curl_multi_remove_handle(m_multi.get(), message->easy_handle);
            auto it =
                std::find_if(m_running.begin(), m_running.end(), [&](const auto& t) { return t.get() == transfer; });
            auto owned = std::move(*it);
            m_running.erase(it);
            finish(std::move(owned), message->data.result);
        }
    }

    void finish(std::unique_ptr<Transfer> transfer, CURLcode code) {
        curl_easy_getinfo(transfer->easy.get(), CURLINFO_RESPONSE_CODE, &transfer->status);
        // The .part file stays open, and so locked, until it has been renamed or removed.
        // (The Transfer itself may move on to the retry queue before then.)
        Finally unlock([owned = transfer.get()] { owned->fd.close(); });
        const DownloadRequest& request = *transfer->request;
        auto part = part_path(request.destination);
        m_progress.bytes_done += transfer->received;

        if (code == CURLE_OK && transfer->status == 304) { // not modified
            std::filesystem::remove(part);
            m_results[transfer->index].not_modified = true;
            ++m_progress.files_done;
            return;
        }
        std::string failure;
        if (code == CURLE_RANGE_ERROR) {
            // The server cannot resume: fetch the whole file instead.
            std::filesystem::remove(part);
            log::debug("{}: the server does not resume downloads; starting over", transfer->label());
            transfer->not_before = Clock::now();
            transfer->easy.reset();
            transfer->headers.reset();
            m_waiting.push_back(std::move(transfer));
            return;
        }
        if (transfer->too_large) {
            failure = fmt::format("it is larger than the {} bytes the metadata gives", *request.size);
        } else if (code != CURLE_OK) {
            failure =
                code == CURLE_HTTP_RETURNED_ERROR ? fmt::format("HTTP {}", transfer->status) : curl_easy_strerror(code);
            if (transient(code, transfer->status) && transfer->attempt < m_options.retries) {
                retry(std::move(transfer), failure);
                return;
            }
            if (code != CURLE_PARTIAL_FILE && code != CURLE_OPERATION_TIMEDOUT) std::filesystem::remove(part);
        } else {
            std::uint64_t total = transfer->offset + transfer->received;
            if (request.size && total != *request.size)
                failure = fmt::format("got {} bytes, the metadata gives {}", total, *request.size);
            else if (request.checksum && transfer->hasher->hex() != request.checksum->hex)
                failure = fmt::format("its {} is {}, the metadata gives {}", digest_name(request.checksum->type),
                                      transfer->hasher->hex(), request.checksum->hex);
            if (!failure.empty()) {
                // A corrupt transfer (or a stale .part we resumed): discard and fetch once more.
                std::filesystem::remove(part);
                if (transfer->attempt == 0) {
                    transfer->offset = 0;
                    retry(std::move(transfer), failure);
                    return;
                }
            }
        }
        if (!failure.empty()) {
            fail(*transfer, failure);
            return;
        }
        std::error_code ec;
        std::filesystem::rename(part, request.destination, ec);
        if (ec) {
            fail(*transfer, fmt::format("cannot rename '{}': {}", part.string(), ec.message()));
            return;
        }
        if (request.conditional && (!transfer->etag.empty() || !transfer->last_modified.empty()))
            write_file_atomic(
                validators_path(request.destination),
                nlohmann::json{{"etag", transfer->etag}, {"last-modified", transfer->last_modified}}.dump());
        m_results[transfer->index].bytes = transfer->received;
        ++m_progress.files_done;
        log::trace("downloaded {} ({} bytes)", transfer->label(), transfer->received);
    }

    void retry(std::unique_ptr<Transfer> transfer, const std::string& why) {
        ++transfer->attempt;
        auto delay = m_options.retry_delay * (1 << std::min(transfer->attempt - 1, 5u));
        log::warn("retrying {} in {} ms (attempt {} of {}): {}", transfer->label(), delay.count(),
                  transfer->attempt + 1, m_options.retries + 1, why);
        transfer->not_before = Clock::now() + delay;
        transfer->easy.reset();
        transfer->headers.reset();
        m_waiting.push_back(std::move(transfer));
    }

    void fail(Transfer& transfer, const std::string& why) {
        transfer.fd.close();
        ++m_progress.files_done;
        m_failures.push_back(fmt::format("Failed to download {}: {}",
                                         transfer.request->label.empty()
                                             ? "'" + transfer.request->url + "'"
                                             : transfer.request->label + " from '" + transfer.request->url + "'",
                                         why));
    }

    void report_progress(bool final) {
        if (!m_options.progress) return;
        auto now = Clock::now();
        if (!final && now - m_last_progress < std::chrono::milliseconds(100)) return;
        m_last_progress = now;
        DownloadProgress progress = m_progress;
        for (const auto& transfer : m_running) progress.bytes_done += transfer->received;
        m_options.progress(progress);
    }

    std::span<const DownloadRequest> m_requests;
    const DownloadOptions& m_options;
    std::vector<DownloadResult> m_results;
    CurlMulti m_multi;
    std::deque<std::unique_ptr<Transfer>> m_waiting;
    std::vector<std::unique_ptr<Transfer>> m_running;
    std::vector<std::unique_ptr<Transfer>> deferred; // start_ready's: lock held by another process
    std::vector<std::string> m_failures;
    DownloadProgress m_progress;
    Clock::time_point m_last_progress{};
};

} // namespace

std::vector<DownloadResult> download(std::span<const DownloadRequest> requests, const DownloadOptions& options) {
    if (requests.empty()) return {};
    return Session(requests, options).run();
}

} // namespace imgbuild
