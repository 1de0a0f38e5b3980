// RootDir against link farms: absolute links, relative links that climb with "../../..", chains, a
// link to /proc/self/root, links as the last component and in the middle, a directory swapped for a
// link between two calls and while calls run. Every test keeps a sentinel directory next to the root
// (what a link that escaped would reach) and checks it is exactly as it was.

#include "imgbuild/core/root_dir.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild {
namespace {

namespace fs = std::filesystem;

// A directory and everything below it as "path: type+mode uid gid content-or-target".
std::map<std::string, std::string> snapshot(const fs::path& top) {
    std::map<std::string, std::string> entries;
    auto add = [&](const fs::path& path) {
        struct stat info {};
        ::lstat(path.c_str(), &info);
        std::string what = fmt::format("{:o} {} {}", info.st_mode, info.st_uid, info.st_gid);
        if (S_ISLNK(info.st_mode))
            what += " -> " + fs::read_symlink(path).string();
        else if (S_ISREG(info.st_mode))
            what += " " + read_file(path);
        entries[path.lexically_relative(top).string()] = what;
    };
    add(top);
    for (auto it = fs::recursive_directory_iterator(top); it != fs::recursive_directory_iterator(); ++it)
        add(it->path());
    return entries;
}

class RootDirTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir.write("root/etc/hostname", "image\n");
        dir.write("root/run/.keep", "");
        dir.write("sentinel/file", "host\n");
        dir.write("sentinel/sub/x", "host x\n");
        fs::create_directories(root_path() / "var");
        before = snapshot(sentinel());
    }
    void TearDown() override { EXPECT_EQ(snapshot(sentinel()), before) << "the sentinel next to the root changed"; }

    fs::path root_path() const { return dir.path() / "root"; }
    fs::path sentinel() const { return dir.path() / "sentinel"; }
    // A relative target from `depth` directories below the root that climbs to the host's sentinel.
    std::string climbing(int depth) const {
        std::string up;
        for (int i = 0; i < depth + 8; ++i) up += "../";
        return up + sentinel().relative_path().string();
    }
    void link(const fs::path& target, const fs::path& at) const {
        fs::create_directories((root_path() / at).parent_path());
        fs::create_symlink(target, root_path() / at);
    }
    std::string host(const fs::path& at) const { return read_file(root_path() / at); }

    test::TempDir dir;
    std::map<std::string, std::string> before;
};

TEST_F(RootDirTest, AnAbsoluteLinkLeadsToTheSamePathInTheRoot) {
    link("/run", "var/run");
    RootDir root(root_path());
    root.write("/var/run/x", "in the image\n");
    EXPECT_EQ(host("run/x"), "in the image\n");
    EXPECT_EQ(root.resolve("/var/run/x"), "/run/x");
    EXPECT_EQ(root.read("var/run/x"), "in the image\n");

    // A link to the host's sentinel leads to the same path inside the root: missing there, so the
    // directory cannot be made; once it exists in the root, the file lands in it.
    link(sentinel(), "etc/evil");
    EXPECT_THROW(root.write("/etc/evil/file", "escaped?"), Error);
    EXPECT_FALSE(root.try_read("etc/evil/file").has_value());
    fs::create_directories(root_path() / sentinel().relative_path());
    root.write("/etc/evil/file", "inside\n");
    EXPECT_EQ(host(sentinel().relative_path() / "file"), "inside\n");
    EXPECT_EQ(root.resolve("/etc/evil/file"), "/" + (sentinel() / "file").relative_path().string());
}

TEST_F(RootDirTest, DotDotStopsAtTheTopOfTheRoot) {
    link(climbing(1), "etc/rel");
    fs::create_directories(root_path() / sentinel().relative_path());
    RootDir root(root_path());
    root.write("/etc/rel/file", "inside\n");
    EXPECT_EQ(host(sentinel().relative_path() / "file"), "inside\n");
    root.write("/../../../../x", "top\n");
    EXPECT_EQ(host("x"), "top\n");
    EXPECT_EQ(root.resolve("/../.."), "/");
    EXPECT_EQ(root.resolve("etc/../../../etc/hostname"), "/etc/hostname");
    EXPECT_EQ(root.read("etc/rel/../../../../etc/hostname"), "image\n");
}

TEST_F(RootDirTest, AChainOfLinksStaysInTheRoot) {
    // a -> b (relative), b -> /c (absolute), c -> ../../../<climb>/d, d a directory of the root.
    link("b", "chain/a");
    link("/chain/c", "chain/b");
    link("../../../../../../../../../../d", "chain/c");
    fs::create_directories(root_path() / "d");
    RootDir root(root_path());
    root.write("chain/a/f", "end of the chain\n");
    EXPECT_EQ(host("d/f"), "end of the chain\n");
    EXPECT_EQ(root.resolve("chain/a/f"), "/d/f");

    // A cycle leads nowhere: an error, not a loop.
    link("loop2", "cycle/loop1");
    link("loop1", "cycle/loop2");
    EXPECT_THROW(root.write("cycle/loop1/f", "x"), Error);
    EXPECT_FALSE(root.exists("cycle/loop1"));
}

TEST_F(RootDirTest, ALinkToProcSelfRootIsTheRootsOwnProc) {
    link("/proc/self/root", "p");
    RootDir root(root_path());
    // The image's /proc/self/root does not exist: nothing is read from or written to the host's /.
    EXPECT_FALSE(root.try_read("p/etc/hostname").has_value());
    EXPECT_FALSE(root.exists("p/etc"));
    EXPECT_THROW(root.write("p/etc/hostname", "x"), Error);
    // Where it exists in the root, the link leads there.
    fs::create_directories(root_path() / "proc/self/root/etc");
    root.write("p/etc/hostname", "the image's own\n");
    EXPECT_EQ(host("proc/self/root/etc/hostname"), "the image's own\n");
    EXPECT_EQ(root.resolve("p/etc/hostname"), "/proc/self/root/etc/hostname");
}

TEST(RootDirMagicLinks, AreNeverFollowed) {
    // /proc/self holds magic links (root, cwd, exe): RESOLVE_NO_MAGICLINKS refuses them, so a tree
    // with a procfs in it cannot jump to another process's root.
    RootDir proc("/proc/self");
    EXPECT_THROW(proc.read("root/etc/hostname"), Error);
    EXPECT_THROW(proc.read("cwd/CMakeCache.txt"), Error);
    EXPECT_NO_THROW(proc.read("status"));
}

TEST_F(RootDirTest, ALinkAsTheLastComponentIsReplacedNotWrittenThrough) {
    link(sentinel() / "file", "etc/motd");
    link(climbing(1) + "/file", "etc/issue");
    RootDir root(root_path());
    root.write("etc/motd", "replaced\n", {0600});
    root.copy_in(dir.path() / "root/etc/hostname", "etc/issue", {0644, {}, {}, false});
    auto motd = root.lstat("etc/motd");
    ASSERT_TRUE(motd);
    EXPECT_TRUE(S_ISREG(motd->st_mode));
    EXPECT_EQ(motd->st_mode & 07777, 0600u);
    EXPECT_EQ(host("etc/motd"), "replaced\n");
    EXPECT_EQ(host("etc/issue"), "image\n");

    // Reading follows the last link, inside the root.
    link("/etc/hostname", "etc/alias");
    EXPECT_EQ(root.read("etc/alias"), "image\n");
    EXPECT_EQ(root.resolve("etc/alias"), "/etc/hostname");
    EXPECT_EQ(root.resolve("etc/alias", false), "/etc/alias");
    EXPECT_EQ(root.read_link("etc/alias"), "/etc/hostname");
}

TEST_F(RootDirTest, ModeAndOwnerAreNeverSetThroughALink) {
    link(sentinel(), "etc/evil");
    link(sentinel() / "file", "etc/evil-file");
    RootDir root(root_path());
    EXPECT_THROW(root.chmod("etc/evil", 0777), Error);
    EXPECT_THROW(root.chmod("etc/evil-file", 04755), Error);
    if (::geteuid() != 0) GTEST_SKIP() << "skipped: chown needs root";
    root.chown("etc/evil", 4242, 4242);
    root.chown("etc/evil-file", 4242, 4242);
    EXPECT_EQ(root.lstat("etc/evil")->st_uid, 4242u) << "the link itself changed owner";
    EXPECT_EQ(root.lstat("etc/evil-file")->st_uid, 4242u);
}

TEST_F(RootDirTest, RemovingATreeNeverFollowsItsLinks) {
    link(sentinel(), "tree/a/abs");
    link(climbing(2), "tree/a/rel");
    link(sentinel() / "file", "tree/file");
    dir.write("root/tree/a/b/c", "c\n");
    RootDir root(root_path());
    EXPECT_EQ(root.remove_all("tree"), 7u);
    EXPECT_FALSE(fs::exists(fs::symlink_status(root_path() / "tree")));
    EXPECT_EQ(root.remove_all("tree"), 0u);

    link(sentinel(), "gone");
    EXPECT_TRUE(root.remove("gone"));
    EXPECT_FALSE(root.remove("gone"));

    link(sentinel(), "emptied/link");
    root.clear_directory("emptied");
    EXPECT_TRUE(fs::is_empty(root_path() / "emptied"));
}

TEST_F(RootDirTest, RenameAndLinksResolveInTheRoot) {
    link("/run", "var/run");
    dir.write("root/moved", "m\n");
    RootDir root(root_path());
    root.rename("moved", "var/run/moved");
    EXPECT_EQ(host("run/moved"), "m\n");
    // Renaming a link moves the link.
    root.rename("var/run", "var/run.old");
    EXPECT_EQ(fs::read_symlink(root_path() / "var/run.old"), "/run");

    root.create_symlink(sentinel(), "made/link");
    EXPECT_EQ(root.read_link("made/link"), sentinel());
    EXPECT_THROW(root.create_symlink("x", "made/link"), Error);
    EXPECT_FALSE(root.exists("made/link"));
    ASSERT_TRUE(root.lstat("made/link"));
    EXPECT_TRUE(S_ISLNK(root.lstat("made/link")->st_mode));
}

TEST_F(RootDirTest, CreatingDirectoriesThroughLinks) {
    link("/run", "var/run");
    link(sentinel(), "var/evil");
    RootDir root(root_path());
    root.create_directories("var/run/a/b", 0700);
    EXPECT_TRUE(fs::is_directory(root_path() / "run/a/b"));
    EXPECT_EQ(fs::status(root_path() / "run/a/b").permissions(), fs::perms::owner_all) << "the mode, not the umask's";
    try {
        root.create_directories("var/evil/sub");
        FAIL() << "made a directory through a link to a path missing in the root";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'/var/evil'"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("does not exist in the image"), std::string::npos) << e.what();
    }
    dir.write("root/file", "f");
    EXPECT_THROW(root.create_directories("file/sub"), Error);
    EXPECT_TRUE(root.create_directory("new"));
    EXPECT_FALSE(root.create_directory("new"));
}

TEST_F(RootDirTest, ErrorsNameThePathInTheImage) {
    fs::create_directories(root_path() / "etc/dir");
    RootDir root(root_path());
    try {
        root.write("/etc/dir", "x");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "Failed to write '/etc/dir' in the image: it is a directory");
    }
    try {
        root.read("etc/missing");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "Failed to read '/etc/missing' in the image: No such file or directory");
    }
    EXPECT_FALSE(root.try_read("etc/missing/deeper"));
    EXPECT_THROW(root.read("etc/dir"), Error);
}

TEST_F(RootDirTest, WrittenFilesGetTheirAttributesAndReplaceAtomically) {
    RootDir root(root_path());
    if (::geteuid() == 0) {
        root.write("usr/bin/tool", "#!/bin/sh\n", {04755, 0, 0});
        EXPECT_EQ(fs::status(root_path() / "usr/bin/tool").permissions(),
                  fs::perms::set_uid | fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                      fs::perms::others_read | fs::perms::others_exec)
            << "chown first, so the setuid bit stays";
        root.write("etc/shadow", "root:*:1::::::\n", {0640, 0, 42});
        EXPECT_EQ(root.stat("etc/shadow")->st_gid, 42u);
    }
    // An existing file is replaced by a new inode (never written into: it may be a hardlink).
    dir.write("root/etc/hardlinked", "old\n");
    fs::create_hard_link(root_path() / "etc/hardlinked", dir.path() / "outside-link");
    root.write("etc/hardlinked", "new\n");
    EXPECT_EQ(read_file(dir.path() / "outside-link"), "old\n");
    EXPECT_EQ(host("etc/hardlinked"), "new\n");
    root.copy("etc/hardlinked", "usr/share/factory/etc/hardlinked", {0600, {}, {}, false});
    EXPECT_EQ(host("usr/share/factory/etc/hardlinked"), "new\n");
    std::vector<std::string> expected = {"hardlinked", "hostname"};
    if (::geteuid() == 0) expected.push_back("shadow");
    EXPECT_EQ(root.list("etc"), expected) << "no temporary file left";
}

TEST_F(RootDirTest, WalkListsLinksWithoutFollowingThem) {
    link(sentinel(), "w/abs");
    link(climbing(1), "w/rel");
    dir.write("root/w/d/f", "f");
    RootDir root(root_path());
    std::vector<std::string> seen;
    root.walk("w", [&](const RootDir::Entry& entry) {
        seen.push_back(entry.path + (S_ISLNK(entry.info.st_mode) ? " -> " + entry.target : ""));
        return true;
    });
    EXPECT_EQ(seen, (std::vector<std::string>{"/w/abs -> " + sentinel().string(), "/w/d", "/w/d/f",
                                              "/w/rel -> " + climbing(1)}));
}

// The descriptor-based design against a swap between two calls: each call resolves its path again
// inside the root, so a directory replaced by a link (to the host's sentinel, absolutely or by
// climbing) leads to a path of the root, or nowhere; a descriptor opened before keeps naming the
// directory it opened, wherever that moved.
TEST_F(RootDirTest, ADirectorySwappedForALinkBetweenTwoCalls) {
    RootDir root(root_path());
    Fd opened = root.create_directories("d");
    root.write("d/one", "1\n");
    fs::rename(root_path() / "d", root_path() / "d.moved");
    fs::create_symlink(sentinel(), root_path() / "d");
    EXPECT_THROW(root.write("d/two", "2\n"), Error);
    fs::remove(root_path() / "d");
    fs::create_symlink(climbing(0), root_path() / "d");
    EXPECT_THROW(root.write("d/two", "2\n"), Error);
    EXPECT_FALSE(root.exists("d/file")) << "the sentinel's file is not seen through the link";
    // The earlier descriptor is the moved directory, still inside the root.
    EXPECT_EQ(::faccessat(opened.get(), "one", F_OK, 0), 0);
}

TEST_F(RootDirTest, ADirectorySwappedForALinkWhileWritesRun) {
    // One thread flips root/d between a directory and links to the host's sentinel while the other
    // writes, reads, creates and removes through it: whatever interleaving happens, every operation
    // either fails or happens inside the root.
    fs::create_directories(root_path() / sentinel().relative_path());
    RootDir root(root_path());
    std::atomic<bool> stop = false;
    // renameat2's exchange swaps whatever is at d (a directory with content, or a link) atomically.
    fs::create_directories(root_path() / "d");
    fs::create_symlink(sentinel(), root_path() / "x.abs");
    fs::create_symlink(climbing(0), root_path() / "x.rel");
    std::thread flipper([&] {
        const fs::path d = root_path() / "d";
        for (int i = 0; !stop; ++i) {
            fs::path other = root_path() / (i % 2 ? "x.abs" : "x.rel");
            ::renameat2(AT_FDCWD, d.c_str(), AT_FDCWD, other.c_str(), RENAME_EXCHANGE);
        }
    });
    int done = 0;
    for (int i = 0; i < 3000; ++i) {
        try {
            root.write(fmt::format("d/f{}", i % 7), "racing\n", {0644, {}, {}, false});
            root.create_directories(fmt::format("d/sub{}", i % 5));
            root.chmod("d", 0700);
            root.remove_all(fmt::format("d/sub{}", i % 5));
            ++done;
        } catch (const Error&) {
        }
    }
    stop = true;
    flipper.join();
    // TearDown checks the sentinel; the root's copy of its path took what went through the links.
    int through = 0;
    for (const auto& entry : fs::directory_iterator(root_path() / sentinel().relative_path())) {
        EXPECT_EQ(entry.path().filename().string().substr(0, 1), entry.is_directory() ? "s" : "f");
        ++through;
    }
    EXPECT_GT(through, 0) << "no write went through a link: the race did not happen";
    RecordProperty("rounds_completed", done);
    RecordProperty("entries_through_links", through);
}

} // namespace
} // namespace imgbuild
