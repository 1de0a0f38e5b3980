#include "imgbuild/core/digest.hpp"

#include <gtest/gtest.h>

#include "imgbuild/core/error.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild {
namespace {

TEST(Digest, KnownValues) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    Hasher md5(DigestType::md5);
    md5.update("abc");
    EXPECT_EQ(md5.hex(), "900150983cd24fb0d6963f7d28e17f72");
}

TEST(Digest, IncrementalEqualsWhole) {
    Hasher hasher(DigestType::sha512);
    hasher.update("ab");
    std::string partial = hasher.hex(); // reading the digest does not end it
    hasher.update("c");
    Hasher whole(DigestType::sha512);
    whole.update("abc");
    EXPECT_EQ(hasher.hex(), whole.hex());
    EXPECT_NE(partial, whole.hex());
}

TEST(Digest, NamesAndFiles) {
    EXPECT_EQ(digest_type("SHA256"), DigestType::sha256);
    EXPECT_EQ(digest_type("sha"), DigestType::sha1);
    EXPECT_FALSE(digest_type("crc32").has_value());
    test::TempDir dir;
    auto file = dir.write("f", "abc");
    EXPECT_EQ(checksum_file(file, DigestType::sha256).str(),
              "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_THROW(checksum_file(dir.path() / "missing", DigestType::sha256), Error);
}

} // namespace
} // namespace imgbuild
