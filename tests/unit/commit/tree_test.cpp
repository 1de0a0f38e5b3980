// The tree writer's checks: content_checksum (OpenSSL) gives the names libostree's own checksum gives,
// for every kind of file it stores; check_commit_objects finds every kind of damage done to a bare
// repository's objects (content edited, edited with the times set back, truncated, replaced by a
// symlink, removed; metadata edited) and remove_objects removes them.

#include "commit/tree.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "imgbuild/core/files.hpp"
#include "support/command.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::commit {
namespace {

namespace fs = std::filesystem;
using test::run_command;

// libostree's own content checksum of `path` (lstat, the xattrs as the tree writer reads them).
std::string ostree_checksum(const fs::path& path) {
    struct stat info {};
    EXPECT_EQ(::lstat(path.c_str(), &info), 0);
    wrap::GObjectPtr<GFileInfo> file_info(g_file_info_new());
    bool link = S_ISLNK(info.st_mode);
    g_file_info_set_file_type(file_info.get(), link ? G_FILE_TYPE_SYMBOLIC_LINK : G_FILE_TYPE_REGULAR);
    g_file_info_set_attribute_uint32(file_info.get(), "unix::uid", info.st_uid);
    g_file_info_set_attribute_uint32(file_info.get(), "unix::gid", info.st_gid);
    g_file_info_set_attribute_uint32(file_info.get(), "unix::mode", info.st_mode);
    wrap::GObjectPtr<GInputStream> input;
    if (link) {
        g_file_info_set_is_symlink(file_info.get(), TRUE);
        g_file_info_set_symlink_target(file_info.get(), fs::read_symlink(path).c_str());
    } else {
        g_file_info_set_size(file_info.get(), info.st_size);
        wrap::GObjectPtr<GFile> file(g_file_new_for_path(path.c_str()));
        input.reset(G_INPUT_STREAM(g_file_read(file.get(), nullptr, nullptr)));
    }
    auto xattrs = read_xattrs(path);
    guchar* raw = nullptr;
    wrap::gcall("checksum", [&](GError** error) {
        return ostree_checksum_file_from_input(file_info.get(), xattrs.get(), input.get(), OSTREE_OBJECT_TYPE_FILE,
                                               &raw, nullptr, error);
    });
    wrap::GCharPtr hex(ostree_checksum_from_bytes(raw));
    g_free(raw);
    return hex.get();
}

std::string ours(const fs::path& path) {
    struct stat info {};
    EXPECT_EQ(::lstat(path.c_str(), &info), 0);
    auto xattrs = read_xattrs(path);
    if (S_ISLNK(info.st_mode)) return content_checksum(info, xattrs.get(), fs::read_symlink(path), -1, path);
    Fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    return content_checksum(info, xattrs.get(), "", file.get(), path);
}

std::string noise(std::size_t size) {
    std::mt19937_64 random(42);
    std::string bytes(size, '\0');
    for (auto& byte : bytes) byte = static_cast<char>(random());
    return bytes;
}

TEST(ContentChecksum, IsOstreesForEveryKindOfFile) {
    test::TempDir dir;
    std::vector<fs::path> files{dir.write("empty", ""), dir.write("text", "hello\n"),
                                dir.write("big", noise((3 << 20) + 17))}; // more than one read buffer
    fs::path setuid = dir.write("setuid", "#!/bin/sh\n");
    ::chmod(setuid.c_str(), 04755);
    files.push_back(setuid);
    fs::path owned = dir.write("owned", "daemon's\n");
    if (::geteuid() == 0) ::chown(owned.c_str(), 1, 1); // another owner and group go into the header
    files.push_back(owned);
    fs::path attributed = dir.write("attributed", "with xattrs\n");
    // Two attributes, set in reverse order: the checksum takes them sorted by name.
    bool have_xattrs = ::setxattr(attributed.c_str(), "user.zz", "2", 1, 0) == 0 &&
                       ::setxattr(attributed.c_str(), "user.aa", "1\0x", 3, 0) == 0;
    files.push_back(attributed);
    fs::create_symlink("../usr/lib/os-release", dir.path() / "link");
    files.push_back(dir.path() / "link");
    fs::create_symlink(std::string(200, 'x'), dir.path() / "long-link");
    files.push_back(dir.path() / "long-link");
    for (const auto& file : files) EXPECT_EQ(ours(file), ostree_checksum(file)) << file;
    if (!have_xattrs) GTEST_SKIP() << "skipped (in part): this filesystem has no user extended attributes";
    EXPECT_EQ(read_xattrs(attributed).get() != nullptr, true);
    EXPECT_EQ(g_variant_n_children(read_xattrs(attributed).get()), 2u);
}

// A bare repository with one commit of a small tree, made by ostree's own tool.
class ObjectCheckTest : public test::TempDirTest {
protected:
    void SetUp() override {
        if (run_command({"ostree", "--version"}).exit_code != 0) GTEST_SKIP() << "skipped: no ostree";
        repo_path = dir.path() / "repo";
        ASSERT_EQ(run_command({"ostree", "init", "--mode=bare", "--repo=" + repo_path.string()}).exit_code, 0);
        dir.write("tree/usr/share/doc/readme", "read me\n");
        dir.write("tree/usr/lib/big", noise(2 << 20));
        dir.write("tree/etc/config", "key=value\n");
        fs::create_symlink("../usr/lib/big", dir.path() / "tree/etc/big-link");
        auto made = run_command({"ostree", "--repo=" + repo_path.string(), "commit", "--branch=test",
                                 "--tree=dir=" + (dir.path() / "tree").string()});
        ASSERT_EQ(made.exit_code, 0) << made.err;
        commit = made.out.substr(0, 64);
        wrap::gcall("open the repository", [&](GError** error) {
            repo.reset(ostree_repo_open_at(AT_FDCWD, repo_path.c_str(), nullptr, error));
            return repo != nullptr;
        });
    }
    // The object of the file at `path` in the tree.
    fs::path object_of(const std::string& path) {
        auto listed = run_command({"ostree", "--repo=" + repo_path.string(), "ls", "-C", "test", path});
        std::istringstream fields(listed.out);
        std::string field, checksum;
        while (fields >> field)
            if (field.size() == 64 && field.find_first_not_of("0123456789abcdef") == std::string::npos)
                checksum = field;
        EXPECT_EQ(checksum.size(), 64u) << listed.out << listed.err;
        return repo_path / "objects" / checksum.substr(0, 2) / (checksum.substr(2) + ".file");
    }
    ObjectCheck check() { return check_commit_objects(repo.get(), commit); }

    fs::path repo_path;
    std::string commit;
    wrap::GObjectPtr<OstreeRepo> repo;
};

TEST_F(ObjectCheckTest, AnIntactCommitHasNoDamage) {
    auto result = check();
    EXPECT_TRUE(result.damaged.empty()) << result.damaged.front().checksum << ": " << result.damaged.front().reason;
    EXPECT_GE(result.bytes, 2u << 20);
    // commit, dirtrees and dirmetas, and the four files
    EXPECT_GE(result.objects, 4u + 5u);
}

TEST_F(ObjectCheckTest, EveryKindOfDamageIsFoundAndRemoved) {
    fs::path readme = object_of("/usr/share/doc/readme");
    fs::path big = object_of("/usr/lib/big");
    fs::path config = object_of("/etc/config");
    fs::path link = object_of("/etc/big-link");
    // Edited with its times set back; truncated; replaced by a symlink to a file of the same content;
    // a symlink object retargeted.
    struct stat before {};
    ::stat(readme.c_str(), &before);
    {
        std::fstream stream(readme, std::ios::in | std::ios::out | std::ios::binary);
        stream.put('R');
    }
    const struct timespec times[2] = {before.st_atim, before.st_mtim};
    ::utimensat(AT_FDCWD, readme.c_str(), times, 0);
    fs::resize_file(big, 1 << 20);
    std::string content = read_file(config);
    fs::path elsewhere = dir.write("elsewhere", content);
    fs::remove(config);
    fs::create_symlink(elsewhere, config);
    fs::remove(link);
    fs::create_symlink("../usr/lib/other", link);

    auto result = check();
    std::map<std::string, std::string> damaged;
    for (const auto& object : result.damaged) damaged[object.path] = object.kind;
    EXPECT_EQ(damaged, (std::map<std::string, std::string>{{"/usr/share/doc/readme", "file"},
                                                           {"/usr/lib/big", "file"},
                                                           {"/etc/config", "file"},
                                                           {"/etc/big-link", "file"}}));

    remove_objects(repo.get(), result.damaged);
    for (const auto& path : {readme, big, config, link}) EXPECT_FALSE(fs::exists(fs::symlink_status(path))) << path;
    auto missing = check();
    ASSERT_EQ(missing.damaged.size(), 4u);
    EXPECT_EQ(missing.damaged.front().reason, "it is missing");
}

TEST_F(ObjectCheckTest, DamagedMetadataIsFound) {
    // The dirtree of /usr/share/doc: its bytes name the readme's object.
    auto listed = run_command({"ostree", "--repo=" + repo_path.string(), "ls", "-X", "-C", "test", "/usr/share"});
    std::string dirtree;
    for (const auto& entry : fs::recursive_directory_iterator(repo_path / "objects"))
        if (entry.path().extension() == ".dirtree" && fs::file_size(entry.path()) > 0) {
            std::string bytes = read_file(entry.path());
            if (bytes.find("readme") != std::string::npos) dirtree = entry.path();
        }
    ASSERT_FALSE(dirtree.empty()) << listed.out;
    std::string bytes = read_file(dirtree);
    bytes[bytes.find("readme")] = 'R';
    fs::remove(dirtree);
    write_file_atomic(dirtree, bytes);
    auto result = check();
    ASSERT_EQ(result.damaged.size(), 1u);
    EXPECT_EQ(result.damaged.front().kind, "dirtree");
    EXPECT_EQ(result.damaged.front().path, "/usr/share/doc");

    // The commit object itself.
    fs::path commit_object = repo_path / "objects" / commit.substr(0, 2) / (commit.substr(2) + ".commit");
    std::string commit_bytes = read_file(commit_object);
    commit_bytes.back() ^= 1;
    fs::remove(commit_object);
    write_file_atomic(commit_object, commit_bytes);
    auto broken = check();
    ASSERT_EQ(broken.damaged.size(), 1u);
    EXPECT_EQ(broken.damaged.front().kind, "commit");
}

} // namespace
} // namespace imgbuild::commit
