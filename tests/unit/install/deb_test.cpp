// unpack_deb (the bootstrap set, unpacked by imgbuild itself as root) against hostile data.tar members:
// a link then a file through it, absolute and climbing links, links over merged /usr's directories,
// hard links to paths outside the root. Whatever libarchive refuses or rewrites, nothing outside the
// root changes (the sentinel's snapshot holds its files' link counts: a hard link into it shows) and
// what was written is inside it.

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include <gtest/gtest.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "install/deb.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::install {
namespace {

namespace fs = std::filesystem;

struct Member {
    std::string path;
    char type = 'f'; // f: file, l: symlink, h: hard link, d: directory
    std::string content_or_target;
};

// A .deb (ar: debian-binary, data.tar) holding `members` in order.
void write_deb(const fs::path& deb, const std::vector<Member>& members) {
    std::vector<char> tar(1 << 20);
    size_t used = 0;
    archive* data = archive_write_new();
    archive_write_set_format_pax_restricted(data);
    ASSERT_EQ(archive_write_open_memory(data, tar.data(), tar.size(), &used), ARCHIVE_OK);
    for (const auto& member : members) {
        archive_entry* entry = archive_entry_new();
        archive_entry_set_pathname(entry, member.path.c_str());
        archive_entry_set_uid(entry, 0);
        archive_entry_set_gid(entry, 0);
        if (member.type == 'f') {
            archive_entry_set_filetype(entry, AE_IFREG);
            archive_entry_set_perm(entry, 0644);
            archive_entry_set_size(entry, static_cast<la_int64_t>(member.content_or_target.size()));
        } else if (member.type == 'd') {
            archive_entry_set_filetype(entry, AE_IFDIR);
            archive_entry_set_perm(entry, 0755);
        } else if (member.type == 'l') {
            archive_entry_set_filetype(entry, AE_IFLNK);
            archive_entry_set_perm(entry, 0777);
            archive_entry_set_symlink(entry, member.content_or_target.c_str());
        } else {
            archive_entry_set_filetype(entry, AE_IFREG);
            archive_entry_set_perm(entry, 0644);
            archive_entry_set_hardlink(entry, member.content_or_target.c_str());
        }
        ASSERT_EQ(archive_write_header(data, entry), ARCHIVE_OK) << archive_error_string(data);
        if (member.type == 'f')
            archive_write_data(data, member.content_or_target.data(), member.content_or_target.size());
        archive_entry_free(entry);
    }
    archive_write_close(data);
    archive_write_free(data);

    archive* ar = archive_write_new();
    archive_write_set_format_ar_svr4(ar);
    ASSERT_EQ(archive_write_open_filename(ar, deb.c_str()), ARCHIVE_OK);
    for (auto [name, content] : {std::pair<std::string, std::string>{"debian-binary", "2.0\n"},
                                 std::pair<std::string, std::string>{"data.tar", std::string(tar.data(), used)}}) {
        archive_entry* entry = archive_entry_new();
        archive_entry_set_pathname(entry, name.c_str());
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_perm(entry, 0644);
        archive_entry_set_size(entry, static_cast<la_int64_t>(content.size()));
        ASSERT_EQ(archive_write_header(ar, entry), ARCHIVE_OK) << archive_error_string(ar);
        archive_write_data(ar, content.data(), content.size());
        archive_entry_free(entry);
    }
    archive_write_close(ar);
    archive_write_free(ar);
}

std::map<std::string, std::string> snapshot(const fs::path& top) {
    std::map<std::string, std::string> entries;
    auto add = [&](const fs::path& path) {
        struct stat info {};
        ::lstat(path.c_str(), &info);
        std::string what = fmt::format("{:o} {} {} {}", info.st_mode, info.st_uid, info.st_nlink, info.st_size);
        if (S_ISLNK(info.st_mode)) what += " -> " + fs::read_symlink(path).string();
        if (S_ISREG(info.st_mode)) what += " " + read_file(path);
        entries[path.lexically_relative(top).string()] = what;
    };
    add(top);
    for (auto it = fs::recursive_directory_iterator(top); it != fs::recursive_directory_iterator(); ++it)
        add(it->path());
    return entries;
}

class UnpackDeb : public test::TempDirTest {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "skipped: unpacking with owners needs root";
        dir.write("sentinel/file", "the host's\n");
        fs::create_directories(root() / "usr/bin");
        fs::create_symlink("usr/bin", root() / "bin");
        before = snapshot(sentinel());
    }
    void TearDown() override {
        if (!before.empty()) {
            EXPECT_EQ(snapshot(sentinel()), before) << "the sentinel next to the root changed";
        }
    }
    fs::path root() const { return dir.path() / "root"; }
    fs::path sentinel() const { return dir.path() / "sentinel"; }
    std::string climbing() const { return "../../../../../../../../../.." + sentinel().string(); }
    // Unpacks; returns the error, or "" when it unpacked.
    std::string unpack(const std::vector<Member>& members) {
        fs::path deb = dir.path() / "hostile.deb";
        write_deb(deb, members);
        try {
            unpack_deb(deb, root(), [](std::string_view) { return true; });
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    }
    std::map<std::string, std::string> before;
};

TEST_F(UnpackDeb, AFileThroughALinkTheSamePackageShips) {
    // Absolute link to the sentinel, then a file through it: libarchive's SECURE_SYMLINKS with UNLINK
    // replaces the link by a directory of the root.
    std::string error = unpack({{"./etc/evil", 'l', sentinel().string()},
                                {"./etc/evil/planted", 'f', "planted\n"},
                                {"./etc/rel", 'l', climbing()},
                                {"./etc/rel/planted", 'f', "planted rel\n"}});
    EXPECT_EQ(error, "");
    EXPECT_EQ(read_file(root() / "etc/evil/planted"), "planted\n");
    EXPECT_EQ(read_file(root() / "etc/rel/planted"), "planted rel\n");
}

TEST_F(UnpackDeb, LinksOverMergedUsr) {
    // ./bin is usr/bin under merged /usr; a package making it (or usr/lib) a link to / and then
    // writing through it writes inside the root.
    std::string error = unpack({{"./usr/lib/x", 'l', "/"},
                                {"./lib/x/planted", 'f', "through lib\n"},
                                {"./bin/tool", 'l', sentinel().string() + "/file"},
                                {"./bin/tool", 'f', "tool replaces the link\n"}});
    EXPECT_EQ(error, "");
    EXPECT_EQ(read_file(root() / "usr/lib/x/planted"), "through lib\n");
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(root() / "usr/bin/tool")));
    EXPECT_TRUE(fs::is_symlink(root() / "bin")) << "merged /usr's link stays";
}

TEST_F(UnpackDeb, HardLinksOutOfTheRootAreRefusedOrStayInside) {
    // A hard link climbing out: refused (SECURE_NODOTDOT).
    EXPECT_NE(unpack({{"./usr/share/stolen", 'h', climbing() + "/file"}}), "");
    // An absolute one names the root's path (merged_path strips the '/'), which does not exist.
    EXPECT_NE(unpack({{"./usr/share/stolen2", 'h', sentinel().string() + "/file"}}), "");
    // Through a link of the root to the sentinel: the link is not followed.
    fs::create_directories(root() / "etc");
    fs::create_symlink(sentinel(), root() / "etc/host");
    EXPECT_NE(unpack({{"./usr/share/stolen3", 'h', "etc/host/file"}}), "");
    EXPECT_FALSE(fs::exists(root() / "usr/share/stolen3"));
    EXPECT_FALSE(fs::exists(root() / "usr/share/stolen2"));
    EXPECT_FALSE(fs::exists(root() / "usr/share/stolen"));
}

} // namespace
} // namespace imgbuild::install
