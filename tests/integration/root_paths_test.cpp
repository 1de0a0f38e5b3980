// Link farms in overlays and files: imgbuild writes into the image's tree as root, and no link a
// package, an overlay or a recipe puts there may lead a write, a mode or an owner out of it. A sentinel
// directory on the host is what an escaping link points to; it must come out unchanged, and what was
// written through the links must be found inside the root. Building a root needs root.

#include <sys/stat.h>
#include <unistd.h>

#include <iterator>
#include <map>
#include <string_view>

#include <gtest/gtest.h>

#include "customize/steps.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/root_dir.hpp"
#include "imgbuild/recipe/recipe.hpp"
#include "support/fixture_recipe.hpp"
#include "support/imgbuild_test.hpp"
#include "support/skip.hpp"

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;

const fs::path fixtures = IMGBUILD_FIXTURE_REPOS;

// A directory and everything below it as "path: mode uid gid content-or-target".
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

class RootPaths : public ImgbuildTest {
protected:
    RootPaths() : ImgbuildTest(fixed_date) {}
    void SetUp() override {
        IMGBUILD_SKIP_IF(unless_root("building a root needs root"));
        // The sentinel is beside the fixtures: its path inside the image must survive the ostree
        // layout (which empties /tmp and /var and makes /home, /opt … links) and be a place files may
        // be written to (not /tmp, /run …), so the test can find what went through the links. A
        // checkout under such a place (a clone in /tmp) gets its sentinel at the top of the host.
        fs::path base = fixtures.parent_path();
        for (std::string_view top :
             {"tmp", "run", "dev", "proc", "sys", "boot", "var", "home", "root", "opt", "srv", "mnt", "media"})
            if (*std::next(base.begin()) == top) base = "/";
        std::string pattern = (base / "imgbuild-root-paths-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        sentinel = pattern;
        write(sentinel / "file", "the host's\n");
        write(sentinel / "sub/x", "the host's x\n");
        fs::permissions(sentinel, fs::perms(0750));
        before = snapshot(sentinel);
        host_run = fmt::format("/run/imgbuild-root-paths-{}", ::getpid());
    }
    void TearDown() override {
        if (sentinel.empty()) return;
        EXPECT_EQ(snapshot(sentinel), before) << "the host's sentinel changed";
        EXPECT_FALSE(fs::exists(fs::symlink_status(host_run))) << "the host's " << host_run << " was written";
        std::error_code ec;
        fs::remove_all(sentinel, ec);
        fs::remove(host_run, ec);
    }

    static void write(const fs::path& path, std::string_view content) {
        fs::create_directories(path.parent_path());
        write_file_atomic(path, content);
    }
    void link(const fs::path& target, const fs::path& at) const {
        fs::create_directories(at.parent_path());
        fs::create_symlink(target, at);
    }
    // A relative target from `depth` directories down that climbs far above any root, then to the sentinel.
    std::string climbing(int depth) const {
        std::string up;
        for (int i = 0; i < depth + 10; ++i) up += "../";
        return up + sentinel.relative_path().string();
    }
    fs::path recipe(const std::string& extra) {
        return dir.write("fx.yaml", FixtureRecipe{.name = "fixture-node",
                                                  .packages = "base-files, app",
                                                  .rest = "ostree: {ref: fixture/x86_64/node}\n" + extra}
                                        .text());
    }

    fs::path sentinel;
    std::map<std::string, std::string> before;
    fs::path host_run;
};

TEST_F(RootPaths, OverlaysAndFilesWriteThroughLinksInsideTheRoot) {
    // The first overlay plants links: /var/run -> /run (as Debian's base-files has it), one absolute
    // and one climbing link to the host's sentinel, one to a directory of the image; and the sentinel's
    // own path inside the image, so that what goes through the links has somewhere to land there.
    fs::path first = dir.path() / "overlays/links";
    link("/run", first / "var/run");
    link(sentinel, first / "etc/evil");
    link(climbing(1), first / "etc/rel");
    link("/usr/share/landing", first / "etc/inroot");
    fs::create_directories(first / "usr/share/landing");
    fs::create_directories(first / sentinel.relative_path());
    // The second overlay writes through them: files, a directory (mode 0777) and a file in it.
    fs::path second = dir.path() / "overlays/through";
    write(second / "etc/evil/planted", "through the absolute link\n");
    write(second / "etc/rel/deeper/planted", "through the climbing link\n");
    write(second / "etc/inroot/planted", "through a link inside the image\n");
    write(second / "var/run" / host_run.filename(), "through /var/run\n");
    fs::permissions(second / "etc/rel", fs::perms::all);
    fs::permissions(second / "etc/evil", fs::perms::all);
    // An image may not keep a link that climbs out of it (validate_layout): a script removes it once
    // the overlays went through it.
    dir.write("scripts/unlink.sh", "rm /etc/rel\n");
    // files: come before overlays; they go through the packages' links (merged /usr).
    recipe("overlays: [overlays/links, overlays/through]\n"
           "postprocess: [scripts/unlink.sh]\n"
           "files:\n"
           "  - {path: /bin/through-merged-usr, content: \"merged\\n\", mode: \"0755\"}\n"
           "  - {path: /lib/fixture/new/file.conf, content: \"deep\\n\"}\n");
    auto result = imgbuild({"rootfs", "fx.yaml", "-o", "root"});
    ASSERT_EQ(result.exit_code, 0) << result.err;

    fs::path root = dir.path() / "root";
    fs::path inside = root / sentinel.relative_path();
    EXPECT_EQ(read_file(inside / "planted"), "through the absolute link\n");
    EXPECT_EQ(read_file(inside / "deeper/planted"), "through the climbing link\n");
    EXPECT_EQ(read_file(root / "usr/share/landing/planted"), "through a link inside the image\n");
    EXPECT_EQ(fs::read_symlink(root / "usr/etc/evil"), sentinel) << "links are copied as links";
    EXPECT_NE(fs::status(inside).permissions(), fs::perms::all) << "no mode set through a link";
    EXPECT_EQ(read_file(root / "usr/bin/through-merged-usr"), "merged\n");
    EXPECT_EQ(fs::status(root / "usr/bin/through-merged-usr").permissions() & fs::perms::all, fs::perms(0755));
    EXPECT_EQ(read_file(root / "usr/lib/fixture/new/file.conf"), "deep\n");
    EXPECT_TRUE(fs::is_symlink(root / "bin")) << "the merged /usr link is not replaced";
}

TEST_F(RootPaths, AFilesPathThatIsADirectoryIsARecipeError) {
    recipe("files:\n"
           "  - {path: /etc/fixture.conf, content: \"ok\\n\"}\n"
           "  - {path: /usr/share/fixture, content: \"not a directory\\n\"}\n");
    auto result = imgbuild({"rootfs", "fx.yaml", "-o", "root"});
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_NE(result.err.find("fx.yaml:9:12: '/usr/share/fixture' is a directory in the image"), std::string::npos)
        << result.err;
    EXPECT_FALSE(fs::exists(dir.path() / "root"));
}

// write_files on a root holding the links a package could ship (no fixture package has them): it is
// driven directly, with a recipe loaded from a file so errors carry their position.
class WriteFiles : public RootPaths {
protected:
    void SetUp() override {
        RootPaths::SetUp();
        if (IsSkipped()) return;
        root = dir.path() / "tree";
        write(root / "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        write(root / "etc/group", "root:x:0:\n");
        fs::create_directories(root / "run");
        fs::create_directories(root / "usr/lib/landing");
        link("/run", root / "var/run");
        link(sentinel, root / "etc/evil");
        link(climbing(1), root / "etc/rel");
        link("../usr/lib/landing", root / "etc/inroot");
        link(sentinel / "file", root / "etc/last");
    }
    void write_files(const std::string& files) {
        auto loaded = recipe::load(recipe("files:\n" + files));
        RootDir tree(root);
        customize::write_files(loaded, tree);
    }
    std::string recipe_error(const std::string& files) {
        try {
            write_files(files);
        } catch (const RecipeError& e) {
            EXPECT_EQ(e.diagnostics().size(), 1u);
            return e.diagnostics().front().str();
        } catch (const Error& e) {
            return std::string("not a recipe error: ") + e.what();
        }
        return "no error";
    }

    fs::path root;
};

TEST_F(WriteFiles, APathThatLeadsUnderRunThroughALinkIsARecipeError) {
    std::string error = recipe_error("  - {path: /var/run/x, content: \"x\\n\"}\n");
    EXPECT_NE(error.find("fx.yaml:8:12: '/var/run/x' leads to '/run/x' in the image (through a link), which is "
                         "under /run"),
              std::string::npos)
        << error;
    EXPECT_FALSE(fs::exists(root / "run/x"));
}

TEST_F(WriteFiles, APathThatIsADirectoryIsARecipeError) {
    EXPECT_NE(recipe_error("  - {path: /usr/lib/landing, content: \"x\\n\"}\n")
                  .find("fx.yaml:8:12: '/usr/lib/landing' is a directory in the image"),
              std::string::npos);
    EXPECT_NE(recipe_error("  - {path: /etc/inroot, content: \"x\\n\"}\n").find("'/etc/inroot' is a directory"),
              std::string::npos)
        << "a link to a directory is a directory";
}

TEST_F(WriteFiles, LinksToTheHostLeadIntoTheRoot) {
    // Their targets do not exist in the root: the directory cannot be made, nothing is written.
    EXPECT_THROW(write_files("  - {path: /etc/evil/x, content: \"x\\n\"}\n"), Error);
    EXPECT_THROW(write_files("  - {path: /etc/rel/x, content: \"x\\n\"}\n"), Error);
    // Where the sentinel's path exists in the root, the files land there.
    fs::create_directories(root / sentinel.relative_path());
    write_files("  - {path: /etc/evil/abs, content: \"abs\\n\"}\n"
                "  - {path: /etc/rel/rel, content: \"rel\\n\", mode: \"0600\"}\n"
                "  - {path: /etc/inroot/in, content: \"in\\n\"}\n"
                "  - {path: /etc/last, content: \"replaced\\n\"}\n");
    EXPECT_EQ(read_file(root / sentinel.relative_path() / "abs"), "abs\n");
    EXPECT_EQ(read_file(root / sentinel.relative_path() / "rel"), "rel\n");
    EXPECT_EQ(read_file(root / "usr/lib/landing/in"), "in\n");
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(root / "etc/last"))) << "the link is replaced";
    EXPECT_EQ(read_file(root / "etc/last"), "replaced\n");
}

} // namespace
} // namespace imgbuild::test
