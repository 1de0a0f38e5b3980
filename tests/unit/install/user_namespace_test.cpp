// The sandbox's user namespace (src/install/user_namespace.cpp): every id maps to itself, and a
// program run in it (run_process's user_namespace) is in it without holding its descriptor.

#include <unistd.h>

#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>

#include "imgbuild/core/process.hpp"
#include "install/user_namespace.hpp"

namespace imgbuild::install {
namespace {

TEST(UserNamespace, MapsEveryIdToItselfAndProgramsRunInIt) {
    if (::geteuid() != 0) GTEST_SKIP() << "skipped: writing a user namespace's maps needs root";
    UserNamespace user_namespace;
    ASSERT_GE(user_namespace.fd(), 3);
    ProcessOptions options{{"/bin/sh", "-c",
                            "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; "
                            "readlink /proc/self/ns/user; ls /proc/self/fd | wc -l"}};
    options.user_namespace = user_namespace.fd();
    auto result = run_process(options);
    ASSERT_TRUE(result.ok()) << result.output;
    std::istringstream lines(result.output);
    for (int i = 0; i < 2; ++i) {
        unsigned long inner = 1, outer = 1, count = 0;
        lines >> inner >> outer >> count;
        EXPECT_EQ(inner, 0u);
        EXPECT_EQ(outer, 0u);
        EXPECT_EQ(count, 4294967295u) << result.output;
    }
    std::string setgroups, ns;
    int fds = 0;
    lines >> setgroups >> ns >> fds;
    EXPECT_EQ(setgroups, "allow");
    EXPECT_NE(ns, std::filesystem::read_symlink("/proc/self/ns/user").string()) << result.output;
    EXPECT_EQ(fds, 4) << "0, 1, 2 and the one ls reads /proc/self/fd with: " << result.output;
}

TEST(UserNamespace, EachIsNew) {
    if (::geteuid() != 0) GTEST_SKIP() << "skipped: writing a user namespace's maps needs root";
    UserNamespace first, second;
    auto inode = [](int fd) { return std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd)).string(); };
    EXPECT_NE(inode(first.fd()), inode(second.fd()));
}

} // namespace
} // namespace imgbuild::install
