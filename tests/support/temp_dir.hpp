#pragma once
// A temporary directory for one test, removed afterwards, with helpers to write fixture files.

#include <filesystem>
#include <string_view>

#include <gtest/gtest.h>

namespace imgbuild::test {

class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return m_path; }
    // Writes `contents` to path()/relative (creating directories) and returns the full path.
    std::filesystem::path write(const std::filesystem::path& relative, std::string_view contents) const;

private:
    std::filesystem::path m_path;
};

// A test fixture owning a TempDir.
class TempDirTest : public ::testing::Test {
protected:
    TempDir dir;
};

} // namespace imgbuild::test
