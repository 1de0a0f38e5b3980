#include "imgbuild/recipe/apt_sources.hpp"

#include <gtest/gtest.h>

#include "support/temp_dir.hpp"

namespace imgbuild::recipe {
namespace {

using test::TempDirTest;
using AptSourcesTest = TempDirTest;

TEST_F(AptSourcesTest, ReadsDeb822AndOneLineFiles) {
    dir.write("sources.list",
              "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main contrib\n"
              "deb-src http://src.example/debian bookworm main\n");
    dir.write("sources.list.d/b.sources",
              "Types: deb deb-src\nURIs: http://two.example/debian/\nSuites: bookworm\n"
              "  bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/d.gpg\n\n"
              "Types: deb\nURIs: http://off.example/\nSuites: x\nEnabled: no\n");
    dir.write("sources.list.d/a.list", "deb http://three.example/debian-security bookworm-security main\n");
    auto sources = read_apt_sources(dir.path());
    ASSERT_EQ(sources.size(), 3u);
    EXPECT_EQ(sources[0].uri, "http://one.example/debian");
    EXPECT_EQ(sources[0].components, (std::vector<std::string>{"main", "contrib"}));
    EXPECT_EQ(sources[0].signed_by, "/k.gpg");
    EXPECT_EQ(sources[1].uri, "http://three.example/debian-security"); // a.list before b.sources
    EXPECT_EQ(sources[2].suites, (std::vector<std::string>{"bookworm", "bookworm-updates"}));
    EXPECT_EQ(sources[2].signed_by, "/usr/share/keyrings/d.gpg");
}

TEST_F(AptSourcesTest, FindsTheDebianMainAndSecurityArchives) {
    dir.write("sources.list.d/x.list", "deb https://packages.cloud.example/apt cloud-sdk main\n"
                                       "deb http://mirror.example/debian/ bookworm main\n"
                                       "deb http://mirror.example/debian-security bookworm-security main\n");
    auto archives = find_debian_archives(read_apt_sources(dir.path()));
    EXPECT_EQ(archives.main, "http://mirror.example/debian");
    EXPECT_EQ(archives.security, "http://mirror.example/debian-security");
}

TEST_F(AptSourcesTest, NothingWhenThereIsNoConfiguration) {
    auto archives = find_debian_archives(read_apt_sources(dir.path() / "missing"));
    EXPECT_FALSE(archives.main);
    EXPECT_FALSE(archives.security);
}

} // namespace
} // namespace imgbuild::recipe
