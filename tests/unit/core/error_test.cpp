#include "imgbuild/core/error.hpp"

#include <cerrno>

#include <gtest/gtest.h>

namespace imgbuild {
namespace {

TEST(Error, GathersContextWhileUnwinding) {
    try {
        try {
            throw Error("Failed to open '{}': {}", "/x", "No such file or directory");
        } catch (Error& e) {
            e.add_context("while installing '{}'", "foo-1.0");
            throw;
        }
    } catch (const Error& e) {
        EXPECT_EQ(e.message(), "Failed to open '/x': No such file or directory");
        EXPECT_STREQ(e.what(), "Failed to open '/x': No such file or directory\n  while installing 'foo-1.0'");
        EXPECT_EQ(e.exit_code(), ExitCode::failed);
    }
}

TEST(RecipeError, CarriesEveryDiagnosticAndExitsWithTwo) {
    RecipeError error({{{"a.yaml", 3, 1}, "unknown key 'x'"}, {{"a.yaml", 5, 2}, "bad"}});
    EXPECT_EQ(error.diagnostics().size(), 2u);
    EXPECT_EQ(error.exit_code(), ExitCode::usage);
    EXPECT_EQ(error.diagnostics()[0].str(), "a.yaml:3:1: unknown key 'x'");
}

TEST(Diagnostic, PrintsKnownPartsOfTheLocation) {
    EXPECT_EQ((Diagnostic{{"a.yaml", 0, 0}, "m"}).str(), "a.yaml: m");
    EXPECT_EQ((Diagnostic{{"a.yaml", 2, 0}, "m"}).str(), "a.yaml:2: m");
    EXPECT_EQ((Diagnostic{{"", 0, 0}, "m"}).str(), "m");
}

TEST(SortUnique, OrdersByPlaceAndDropsRepeats) {
    std::vector<Diagnostic> list{
        {{"b.yaml", 1, 1}, "x"}, {{"a.yaml", 9, 1}, "y"}, {{"a.yaml", 2, 5}, "z"}, {{"a.yaml", 2, 5}, "z"}};
    sort_unique(list);
    ASSERT_EQ(list.size(), 3u);
    EXPECT_EQ(list[0].str(), "a.yaml:2:5: z");
    EXPECT_EQ(list[1].str(), "a.yaml:9:1: y");
    EXPECT_EQ(list[2].str(), "b.yaml:1:1: x");
}

class StageError : public Error {
public:
    using Error::Error;
};

TEST(SysError, FormatsErrnoOnceAfterWhatFailed) {
    SysError error(ENOENT, "open '{}'", "/x");
    EXPECT_STREQ(error.what(), "Failed to open '/x': No such file or directory");
    EXPECT_EQ(error.errnum(), ENOENT);
    EXPECT_EQ(errno_text(EACCES), "Permission denied");
}

TEST(SysError, IsTheCallersErrorType) {
    try {
        throw SysError<StageError>(EEXIST, "create '{}'", "/y");
    } catch (const StageError& e) {
        EXPECT_EQ(e.message(), "Failed to create '/y': File exists");
        return;
    }
    FAIL() << "a SysError<StageError> is a StageError";
}

TEST(Error, WhatHasTheContextAddedSoFar) {
    Error error("Failed to x");
    EXPECT_STREQ(error.what(), "Failed to x");
    error.add_context("while a");
    error.add_context("while b");
    EXPECT_STREQ(error.what(), "Failed to x\n  while a\n  while b");
}

} // namespace
} // namespace imgbuild
