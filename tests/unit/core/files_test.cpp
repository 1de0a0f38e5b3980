#include "imgbuild/core/files.hpp"

#include <gtest/gtest.h>

#include "imgbuild/core/error.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild {
namespace {

namespace fs = std::filesystem;

TEST(AtomicFile, NothingUnderTheFinalNameUntilCommit) {
    test::TempDir dir;
    auto target = dir.path() / "sub/out.txt";
    {
        AtomicFile file(target);
        file.write("half");
        EXPECT_FALSE(fs::exists(target));
        EXPECT_TRUE(fs::exists(file.temp_path()));
        // no commit: an exception or a crash at this point
    }
    EXPECT_FALSE(fs::exists(target));
    EXPECT_TRUE(fs::is_empty(target.parent_path())) << "the temporary file is removed";

    write_file_atomic(target, "whole");
    EXPECT_EQ(read_file(target), "whole");
    write_file_atomic(target, "replaced", 0600);
    EXPECT_EQ(read_file(target), "replaced");
    EXPECT_EQ(fs::status(target).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
}

TEST(Files, ReadErrorsNameTheFile) {
    test::TempDir dir;
    try {
        read_file(dir.path() / "nope");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("nope': No such file or directory"), std::string::npos) << e.what();
    }
    std::string reason;
    EXPECT_FALSE(try_read_file(dir.path(), reason).has_value());
    EXPECT_EQ(reason, "it is a directory");
}

TEST(Files, ReadablePathIsRelativeBelowTheWorkingDirectory) {
    auto cwd = fs::current_path();
    EXPECT_EQ(readable_path(cwd / "a/b.yaml"), "a/b.yaml");
    EXPECT_EQ(readable_path("/definitely/elsewhere"), "/definitely/elsewhere");
    EXPECT_EQ(readable_path("x/../y.yaml"), "y.yaml");
}

} // namespace
} // namespace imgbuild
