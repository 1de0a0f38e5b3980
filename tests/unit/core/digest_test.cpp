#include "imgbuild/core/digest.hpp"

#include <chrono>
#include <set>

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

// tree_digest: a tree's content (names, types, the executable bit, contents, link targets), not where
// it lives or its times.
class TreeDigest : public test::TempDirTest {
protected:
    // The same small tree under DIR/<name>.
    std::filesystem::path make(const std::string& name) const {
        dir.write(name + "/etc/motd", "hello\n");
        dir.write(name + "/usr/bin/tool", "#!/bin/sh\n");
        dir.write(name + "/empty.txt", "");
        std::filesystem::create_directories(dir.path() / name / "var/empty");
        std::filesystem::create_symlink("../usr/bin/tool", dir.path() / name / "etc/tool");
        return dir.path() / name;
    }
};

TEST_F(TreeDigest, SameTreeInTwoPlacesIsTheSame) {
    auto a = make("a"), b = make("b");
    EXPECT_EQ(tree_digest(a), tree_digest(b));
    EXPECT_EQ(tree_digest(a).size(), 64u);
    EXPECT_EQ(tree_digest(a), tree_digest(a));
}

TEST_F(TreeDigest, ContentNamesTypesModesAndLinksCount) {
    namespace fs = std::filesystem;
    auto root = make("a");
    std::set<std::string> seen{tree_digest(root)};
    auto changed = [&](const char* what) {
        EXPECT_TRUE(seen.insert(tree_digest(root)).second) << what << " did not change the digest";
    };
    dir.write("a/etc/motd", "hello!\n");
    changed("new content");
    dir.write("a/etc/issue", "");
    changed("a new file");
    fs::rename(root / "etc/issue", root / "etc/issue.net");
    changed("a renamed file");
    fs::permissions(root / "etc/motd", fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                    fs::perm_options::add);
    changed("chmod +x");
    fs::remove(root / "etc/tool");
    fs::create_symlink("/usr/bin/tool", root / "etc/tool");
    changed("a link's target");
    fs::create_directories(root / "var/empty/sub");
    changed("a new empty directory");
    fs::remove(root / "empty.txt");
    fs::create_directories(root / "empty.txt");
    changed("a file replaced by a directory");
}

TEST_F(TreeDigest, TimesAndOtherModesDoNotCount) {
    namespace fs = std::filesystem;
    auto root = make("a");
    auto before = tree_digest(root);
    fs::last_write_time(root / "etc/motd", fs::last_write_time(root / "etc/motd") - std::chrono::hours(48));
    fs::last_write_time(root / "etc", fs::last_write_time(root / "etc") - std::chrono::hours(1));
    EXPECT_EQ(tree_digest(root), before);
    fs::permissions(root / "etc/motd", fs::perms(0600));
    EXPECT_EQ(tree_digest(root), before) << "only the executable bit is content";
}

TEST_F(TreeDigest, SingleFiles) {
    auto file = dir.write("one.txt", "abc");
    auto same = dir.write("other/two.txt", "abc");
    auto digest = tree_digest(file);
    EXPECT_EQ(digest.size(), 64u);
    EXPECT_EQ(tree_digest(same), digest) << "a file's own name is not part of it";
    dir.write("one.txt", "abd");
    EXPECT_NE(tree_digest(file), digest);
    EXPECT_NE(tree_digest(dir.path() / "other"), tree_digest(same)) << "a directory holding the file differs";
    EXPECT_THROW(tree_digest(dir.path() / "missing"), Error);
}

} // namespace
} // namespace imgbuild
