// The compressed qcow2 writer against QEMU's own reader: a sparse disk with text, incompressible
// random bytes, zeros inside data and a last cluster shorter than the others, written with zstd and
// zlib, on one thread and on four (the same bytes), checked by `qemu-img check` and compared with the
// raw disk by `qemu-img compare`; then written again after a few clusters changed, reusing the first
// file's clusters (the same bytes as writing it afresh); and the cache that keeps the last file.

#include "image/qcow2.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/image/image.hpp"
#include "support/command.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::image {
namespace {

namespace fs = std::filesystem;
using test::run_command;

constexpr std::uint64_t mib = 1 << 20;

class Qcow2Test : public test::TempDirTest {
protected:
    void SetUp() override {
        if (run_command({"qemu-img", "--version"}).exit_code != 0) GTEST_SKIP() << "skipped: no qemu-img";
    }

    // Writes `data` into `file` at `offset` (the file keeps its holes elsewhere).
    static void put(const fs::path& file, std::uint64_t offset, const std::string& data) {
        int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)),
                  static_cast<ssize_t>(data.size()));
        ::close(fd);
    }
    static std::string text(std::size_t size, int seed) {
        std::string result;
        for (int line = 0; result.size() < size; ++line)
            result += fmt::format("line {} of file {}: net.core.somaxconn = {}\n", line, seed, line * seed);
        result.resize(size);
        return result;
    }
    static std::string noise(std::size_t size, unsigned seed) {
        std::mt19937_64 random(seed);
        std::string result(size, '\0');
        for (auto& byte : result) byte = static_cast<char>(random());
        return result;
    }

    // A 40.5 MiB disk: text in clusters 0-2, 1.5 MiB of noise from 5 MiB, a cluster of zeros written
    // as data at 9 MiB, text at 20 MiB and in the short last cluster.
    fs::path disk(const std::string& name) {
        fs::path file = dir.path() / name;
        put(file, 0, text(3 * mib, 1));
        put(file, 5 * mib, noise(3 * mib / 2, 7));
        put(file, 9 * mib, std::string(mib, '\0'));
        put(file, 20 * mib, text(mib / 2, 2));
        put(file, 40 * mib, text(mib / 2, 3));
        return file;
    }

    Qcow2Result write(const fs::path& raw, const fs::path& out, const std::string& compression, unsigned threads,
                      const ClusterSource* reuse = nullptr) {
        AtomicFile file(out);
        auto result = write_compressed_qcow2(raw, file.fd(), file.temp_path(), {compression, threads, reuse});
        file.commit();
        return result;
    }

    static void expect_valid(const fs::path& raw, const fs::path& qcow2) {
        auto check = run_command({"qemu-img", "check", qcow2.string()});
        EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
        EXPECT_NE(check.out.find("No errors were found"), std::string::npos) << check.out;
        auto compare = run_command({"qemu-img", "compare", "-f", "raw", "-F", "qcow2", raw.string(), qcow2.string()});
        EXPECT_EQ(compare.exit_code, 0) << compare.out << compare.err;
    }
};

TEST_F(Qcow2Test, QemuReadsTheDiskBackAndTheBytesDoNotDependOnTheThreads) {
    fs::path raw = disk("disk.raw");
    for (std::string compression : {"zstd", "zlib"}) {
        fs::path one = dir.path() / (compression + "-1.qcow2"), four = dir.path() / (compression + "-4.qcow2");
        auto result = write(raw, one, compression, 1);
        write(raw, four, compression, 4);
        expect_valid(raw, one);
        EXPECT_EQ(read_file(one), read_file(four)) << compression;
        // Clusters 0-2 (text), 5 (noise: stored as it is), 6 (half noise: compressed), 20 and 40; the
        // zeros written at 9 MiB are not data.
        EXPECT_EQ(result.clusters, 7u) << compression;
        EXPECT_EQ(result.stored, 1u) << compression;
        EXPECT_EQ(result.compressed, 6u) << compression;
        EXPECT_EQ(result.reused, 0u);
        EXPECT_EQ(result.index.clusters.size(), 7u);
        auto info = run_command({"qemu-img", "info", "--output=json", one.string()});
        auto json = nlohmann::json::parse(info.out);
        EXPECT_EQ(json["virtual-size"], 40 * mib + mib / 2);
        EXPECT_EQ(json["cluster-size"], mib);
        EXPECT_EQ(json["format-specific"]["data"]["compat"], "1.1");
        EXPECT_EQ(json["format-specific"]["data"]["compression-type"], compression);
    }
}

TEST_F(Qcow2Test, AChangedDiskReusesTheClustersItSharesAndIsTheSameBytesAsWrittenAfresh) {
    fs::path raw = disk("disk.raw");
    fs::path first = dir.path() / "first.qcow2";
    auto earlier = write(raw, first, "zstd", 2);

    put(raw, mib + 100, "changed");          // a text cluster
    put(raw, 30 * mib, text(mib, 9));        // a new one
    put(raw, 20 * mib, std::string(mib, 0)); // a cluster that becomes zeros
    ClusterSource source;
    source.file.reset(::open(first.c_str(), O_RDONLY | O_CLOEXEC));
    source.index = ClusterIndex::from_json(earlier.index.to_json());
    fs::path reused = dir.path() / "reused.qcow2", fresh = dir.path() / "fresh.qcow2";
    auto result = write(raw, reused, "zstd", 2, &source);
    write(raw, fresh, "zstd", 2);
    expect_valid(raw, reused);
    EXPECT_EQ(read_file(reused), read_file(fresh));
    EXPECT_EQ(result.clusters, 7u);
    EXPECT_EQ(result.compressed, 2u); // the changed cluster and the new one
    EXPECT_EQ(result.reused, 5u);     // clusters 0, 2, 5 (stored), 6 and 40
}

TEST_F(Qcow2Test, TheCacheKeepsTheLastFileUntilItChanges) {
    fs::path raw = disk("disk.raw");
    fs::path out = dir.path() / "out/image.qcow2";
    fs::create_directories(out.parent_path());
    auto written = write(raw, out, "zstd", 2);
    ClusterCache cache(dir.path() / "cache/image", "key");
    EXPECT_EQ(cache.open(), nullptr) << "nothing remembered yet";
    cache.remember(out, written.index);
    auto source = cache.open();
    ASSERT_NE(source, nullptr);
    EXPECT_EQ(source->index.clusters.size(), written.index.clusters.size());
    EXPECT_FALSE(source->verify) << "unchanged since it was written: its clusters are copied as they are";
    // The output may go: the cache has its own link. Its change time moved with the link count, so
    // what is copied from it is verified.
    fs::remove(out);
    source = cache.open();
    ASSERT_NE(source, nullptr);
    EXPECT_TRUE(source->verify);
    // A file written since (a VM that booted it read-write) is not used.
    put(dir.path() / "cache/image/key.qcow2", 2 * mib, "written by a guest");
    EXPECT_EQ(cache.open(), nullptr);
}

// The cached file's bytes edited and its modification time set back (which leaves its change time
// moved): it is used, but the edited clusters are found and compressed afresh, and the new file is
// the same bytes as one written without the cache. A damaged index is not used at all.
TEST_F(Qcow2Test, AnEditedCachedFileIsCaughtClusterByCluster) {
    fs::path raw = disk("disk.raw");
    for (std::string compression : {"zstd", "zlib"}) {
        fs::path out = dir.path() / compression / "image.qcow2";
        fs::create_directories(out.parent_path());
        auto written = write(raw, out, compression, 2);
        ClusterCache cache(dir.path() / compression / "cache", "key");
        cache.remember(out, written.index);
        fs::path cached = dir.path() / compression / "cache/key.qcow2";
        struct stat before {};
        ASSERT_EQ(::stat(cached.c_str(), &before), 0);
        // A compressed cluster's bytes: the first text cluster's, in the middle.
        std::uint64_t offset = SIZE_MAX;
        for (const auto& [digest, entry] : written.index.clusters)
            if (!entry.stored) offset = std::min(offset, entry.offset + entry.length / 2);
        put(cached, offset, "edited");
        const struct timespec times[2] = {before.st_atim, before.st_mtim};
        ASSERT_EQ(::utimensat(AT_FDCWD, cached.c_str(), times, 0), 0);

        auto source = cache.open();
        ASSERT_NE(source, nullptr) << compression;
        EXPECT_TRUE(source->verify) << compression;
        fs::path again = dir.path() / compression / "again.qcow2", fresh = dir.path() / compression / "fresh.qcow2";
        auto result = write(raw, again, compression, 2, source.get());
        write(raw, fresh, compression, 2);
        expect_valid(raw, again);
        EXPECT_EQ(read_file(again), read_file(fresh)) << compression;
        EXPECT_EQ(result.damaged, 1u) << compression;
        EXPECT_EQ(result.compressed, 1u) << compression << ": only the damaged cluster is compressed again";

        // The index, edited: the file's clusters are not trusted through it.
        fs::path index = dir.path() / compression / "cache/key.json";
        std::string text = read_file(index);
        text.replace(text.find("\"clusters\":{\"") + 13, 1, "0");
        write_file_atomic(index, text);
        EXPECT_EQ(cache.open(), nullptr) << compression;
    }
}

TEST_F(Qcow2Test, AnUnknownCompressionIsAnError) {
    fs::path raw = disk("disk.raw");
    EXPECT_THROW(write(raw, dir.path() / "x.qcow2", "lzma", 1), ImageError);
}

} // namespace
} // namespace imgbuild::image
