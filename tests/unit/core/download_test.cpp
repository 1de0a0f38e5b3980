#include "imgbuild/core/download.hpp"

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "imgbuild/core/files.hpp"
#include "support/http_server.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild {
namespace {

using test::HttpServer;
using test::TempDirTest;
namespace fs = std::filesystem;

class DownloadTest : public TempDirTest {
protected:
    DownloadOptions fast() {
        DownloadOptions options;
        options.retry_delay = std::chrono::milliseconds(10);
        return options;
    }
    std::string read(const fs::path& path) { return read_file(path); }
    HttpServer server;
    const std::string body = std::string(100000, 'x') + "the end";
    Checksum checksum{DigestType::sha256, sha256_hex(body)};
};

TEST_F(DownloadTest, VerifiesAndRenamesIntoPlace) {
    server.add("/a", {body});
    auto target = dir.path() / "cache/a";
    auto results = download(std::vector<DownloadRequest>{{server.url("/a"), target, checksum, body.size()}}, fast());
    EXPECT_EQ(read(target), body);
    EXPECT_EQ(results[0].bytes, body.size());
    EXPECT_FALSE(fs::exists(target.string() + ".part"));
}

TEST_F(DownloadTest, WrongChecksumIsRefusedAndNothingKept) {
    server.add("/a", {body});
    auto target = dir.path() / "a";
    Checksum wrong{DigestType::sha256, std::string(64, '0')};
    try {
        download(std::vector<DownloadRequest>{{server.url("/a"), target, wrong, {}, false, "the file"}}, fast());
        FAIL();
    } catch (const FetchError& e) {
        EXPECT_NE(std::string(e.what()).find("Failed to download the file from 'http://127.0.0.1:"), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find("its sha256 is " + checksum.hex), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(target));
    EXPECT_FALSE(fs::exists(target.string() + ".part"));
    EXPECT_EQ(server.requests("/a"), 2); // a corrupt transfer is fetched once more before giving up
}

TEST_F(DownloadTest, NotFoundIsNotRetried) {
    try {
        download(std::vector<DownloadRequest>{{server.url("/missing"), dir.path() / "m"}}, fast());
        FAIL();
    } catch (const FetchError& e) {
        EXPECT_NE(std::string(e.what()).find("HTTP 404"), std::string::npos) << e.what();
    }
    EXPECT_EQ(server.requests("/missing"), 1);
}

TEST_F(DownloadTest, TransientFailuresAreRetried) {
    server.add("/flaky", {body, "", 2});
    auto target = dir.path() / "flaky";
    download(std::vector<DownloadRequest>{{server.url("/flaky"), target, checksum}}, fast());
    EXPECT_EQ(read(target), body);
    EXPECT_EQ(server.requests("/flaky"), 3);

    server.add("/down", {body, "", 10});
    EXPECT_THROW(download(std::vector<DownloadRequest>{{server.url("/down"), dir.path() / "down"}}, fast()),
                 FetchError);
    EXPECT_EQ(server.requests("/down"), 4); // the first try and three retries
}

TEST_F(DownloadTest, ConditionalRequestsKeepAnUnchangedFile) {
    server.add("/index", {body, "\"v1\""});
    auto target = dir.path() / "index";
    DownloadRequest request{server.url("/index"), target, {}, {}, true};
    EXPECT_FALSE(download(std::vector{request}, fast())[0].not_modified);
    EXPECT_TRUE(fs::exists(target.string() + ".http"));
    auto again = download(std::vector{request}, fast());
    EXPECT_TRUE(again[0].not_modified);
    EXPECT_EQ(read(target), body);

    server.add("/index", {"changed", "\"v2\""});
    EXPECT_FALSE(download(std::vector{request}, fast())[0].not_modified);
    EXPECT_EQ(read(target), "changed");
}

TEST_F(DownloadTest, ResumesAnInterruptedDownload) {
    server.add("/big", {body});
    auto target = dir.path() / "big";
    dir.write("big.part", body.substr(0, 60000)); // what an interrupted run left
    auto results = download(std::vector<DownloadRequest>{{server.url("/big"), target, checksum, body.size()}}, fast());
    EXPECT_EQ(server.last_range("/big"), "bytes=60000-");
    EXPECT_EQ(results[0].bytes, body.size() - 60000);
    EXPECT_EQ(read(target), body);
}

TEST_F(DownloadTest, StartsOverWhenTheServerIgnoresRanges) {
    server.add("/norange", {body, "", 0, false});
    auto target = dir.path() / "norange";
    dir.write("norange.part", body.substr(0, 500));
    download(std::vector<DownloadRequest>{{server.url("/norange"), target, checksum, body.size()}}, fast());
    EXPECT_EQ(read(target), body);
}

TEST_F(DownloadTest, StaleOrLargerFilesAreRefused) {
    server.add("/a", {body});
    dir.write("a.part", "garbage that is not the start of the file");
    download(std::vector<DownloadRequest>{{server.url("/a"), dir.path() / "a", checksum, body.size()}}, fast());
    EXPECT_EQ(read(dir.path() / "a"), body); // the bad resume fails its checksum and is fetched whole

    try {
        download(std::vector<DownloadRequest>{{server.url("/a"), dir.path() / "small", {}, 10}}, fast());
        FAIL();
    } catch (const FetchError& e) {
        EXPECT_NE(std::string(e.what()).find("larger than the 10 bytes the metadata gives"), std::string::npos)
            << e.what();
    }
}

// Two processes sharing a cache: the second waits for the first's .part lock and takes its file.
TEST_F(DownloadTest, WaitsForAnotherDownloaderOfTheSameFile) {
    server.add("/a", {body, "", 0, true, 200, 400000}); // about a quarter of a second
    auto target = dir.path() / "cache/a";
    std::vector<DownloadRequest> requests{{server.url("/a"), target, checksum, body.size()}};
    auto first = std::async(std::launch::async, [&] { return download(requests, fast()); });
    auto part = fs::path(target.string() + ".part");
    for (int i = 0; i < 500 && !fs::exists(part); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_TRUE(fs::exists(part));
    auto second = download(requests, fast());
    EXPECT_EQ(first.get()[0].bytes, body.size());
    EXPECT_EQ(second[0].bytes, 0u); // it did not fetch the file again
    EXPECT_EQ(server.requests("/a"), 1);
    EXPECT_EQ(read(target), body);
    EXPECT_FALSE(fs::exists(part));
}

TEST_F(DownloadTest, FetchesItselfWhenTheOtherDownloaderGaveUp) {
    server.add("/a", {body});
    auto target = dir.path() / "a";
    auto part = dir.write("a.part", "half");
    int held = ::open(part.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_EQ(::flock(held, LOCK_EX), 0);
    auto waiting = std::async(std::launch::async, [&] {
        return download(std::vector<DownloadRequest>{{server.url("/a"), target, checksum, body.size()}}, fast());
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(server.requests("/a"), 0); // still waiting for the lock
    fs::remove(part);                    // the other process failed: it removes its file and lets go
    ::close(held);
    EXPECT_EQ(waiting.get()[0].bytes, body.size());
    EXPECT_EQ(read(target), body);
}

TEST_F(DownloadTest, ManyFilesInParallelAndFileUrls) {
    std::vector<DownloadRequest> requests;
    for (int i = 0; i < 20; ++i) {
        std::string path = "/f" + std::to_string(i);
        server.add(path, {body + std::to_string(i)});
        requests.push_back({server.url(path), dir.path() / ("out" + std::to_string(i)),
                            Checksum{DigestType::sha256, sha256_hex(body + std::to_string(i))}});
    }
    auto local = dir.write("local.txt", "local");
    requests.push_back(
        {"file://" + local.string(), dir.path() / "copied", Checksum{DigestType::sha256, sha256_hex("local")}});
    std::size_t reports = 0;
    DownloadOptions options = fast();
    options.parallel = 4;
    options.progress = [&](const DownloadProgress& progress) {
        ++reports;
        EXPECT_LE(progress.files_done, progress.files_total);
    };
    download(requests, options);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(read(dir.path() / ("out" + std::to_string(i))), body + std::to_string(i));
    EXPECT_EQ(read(dir.path() / "copied"), "local");
    EXPECT_GE(reports, 1u);
}

} // namespace
} // namespace imgbuild
