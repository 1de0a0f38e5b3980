// Cache entries checked against a digest: checksum_cached_file reads only regular files (never through
// a link put in an entry's place), and a recorded digest (FILE.sha256) catches every kind of damage.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/files.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild {
namespace {

namespace fs = std::filesystem;

TEST(CachedFile, OnlyRegularFilesAreRead) {
    test::TempDir dir;
    auto file = dir.write("entry", "abc");
    EXPECT_EQ(checksum_cached_file(file, DigestType::sha256)->hex,
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    fs::create_symlink(file, dir.path() / "link");
    EXPECT_FALSE(checksum_cached_file(dir.path() / "link", DigestType::sha256)) << "a link is not followed";
    EXPECT_FALSE(checksum_cached_file(dir.path() / "missing", DigestType::sha256));
    EXPECT_FALSE(checksum_cached_file(dir.path(), DigestType::sha256)) << "a directory is no entry";
    ASSERT_EQ(::mkfifo((dir.path() / "fifo").c_str(), 0600), 0);
    EXPECT_FALSE(checksum_cached_file(dir.path() / "fifo", DigestType::sha256)) << "a FIFO neither blocks nor counts";
}

TEST(CachedFile, TheRecordedDigestCatchesEveryDamage) {
    test::TempDir dir;
    const std::string content(100000, 'x');
    auto make = [&] {
        auto file = dir.write("image.img", content);
        record_digest(file, sha256_hex(content));
        return file;
    };
    auto file = make();
    EXPECT_EQ(read_file(digest_record_path(file)), sha256_hex(content) + "\n");
    EXPECT_TRUE(matches_recorded_digest(file));

    // Bytes edited, the modification time set back.
    struct stat before {};
    ::stat(file.c_str(), &before);
    {
        std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
        stream.seekp(5000);
        stream.put('y');
    }
    const struct timespec times[2] = {before.st_atim, before.st_mtim};
    ::utimensat(AT_FDCWD, file.c_str(), times, 0);
    EXPECT_FALSE(matches_recorded_digest(file));

    // Truncated.
    file = make();
    fs::resize_file(file, 10);
    EXPECT_FALSE(matches_recorded_digest(file));

    // Replaced by a symlink to a file with the very same bytes.
    file = make();
    auto other = dir.write("other", content);
    fs::remove(file);
    fs::create_symlink(other, file);
    EXPECT_FALSE(matches_recorded_digest(file));

    // The record itself damaged or missing.
    fs::remove(file);
    file = make();
    write_file_atomic(digest_record_path(file), "not a digest\n");
    EXPECT_FALSE(recorded_digest(file));
    EXPECT_FALSE(matches_recorded_digest(file));
    fs::remove(digest_record_path(file));
    EXPECT_FALSE(matches_recorded_digest(file));

    discard_cached_file(file);
    EXPECT_FALSE(fs::exists(file));
    EXPECT_FALSE(fs::exists(digest_record_path(file)));
}

} // namespace
} // namespace imgbuild
