// Temporary directories for tests, under $TMPDIR, removed even when the test fails.

#include "temp_dir.hpp"

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

namespace imgbuild::test {

TempDir::TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "imgbuild-test-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    m_path = pattern;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
}

std::filesystem::path TempDir::write(const std::filesystem::path& relative, std::string_view contents) const {
    auto full = m_path / relative;
    std::filesystem::create_directories(full.parent_path());
    std::ofstream(full, std::ios::binary) << contents;
    return full;
}

} // namespace imgbuild::test
