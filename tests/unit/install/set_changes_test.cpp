// install::set_changes: what turns a cached set (its "name version arch checksum" lines) into a lock's.

#include <gtest/gtest.h>

#include "imgbuild/install/install.hpp"

namespace imgbuild::test {
namespace {

resolve::LockedPackage package(std::string name, std::string version, std::string sum, std::string arch = "amd64") {
    resolve::LockedPackage p;
    p.name = std::move(name);
    p.version = std::move(version);
    p.arch = std::move(arch);
    p.checksum = Checksum{DigestType::sha256, std::move(sum)};
    return p;
}

std::string line(const resolve::LockedPackage& p) {
    return p.name + " " + p.version + " " + p.arch + " " + p.checksum.str();
}

TEST(SetChanges, TheSameSetChangesNothing) {
    resolve::Lock lock;
    lock.packages = {package("bash", "5.1-2", "aa"), package("libc6", "2.31-13", "bb")};
    auto changes = install::set_changes({line(lock.packages[0]), line(lock.packages[1])}, lock);
    EXPECT_EQ(changes.size(), 0u);
}

TEST(SetChanges, NewVersionsRebuildsAndAdditionsAreUnpackedAndTheRestRemoved) {
    resolve::Lock lock;
    lock.packages = {package("bash", "5.1-2", "aa"), package("less", "551-2", "cc"), package("libc6", "2.31-14", "dd"),
                     package("zlib1g", "1.2.11", "ff")};
    std::vector<std::string> installed = {
        line(lock.packages[0]),
        line(package("libc6", "2.31-13", "bb")),      // another version
        line(package("zlib1g", "1.2.11", "ee")),      // the same version, rebuilt
        line(package("nano", "5.4-2", "99")),         // not in the lock
        line(package("bash", "5.1-2", "aa", "i386")), // another architecture is another package
    };
    auto changes = install::set_changes(installed, lock);
    EXPECT_EQ(changes.unpacked, (std::vector<std::size_t>{1, 2, 3}));
    EXPECT_EQ(changes.removed, (std::vector<std::string>{"bash", "nano"}));
    EXPECT_EQ(changes.size(), 5u);
}

TEST(SetChanges, MalformedLinesAreIgnored) {
    resolve::Lock lock;
    lock.packages = {package("bash", "5.1-2", "aa")};
    auto changes = install::set_changes({"", "bash 5.1-2", line(lock.packages[0])}, lock);
    EXPECT_EQ(changes.size(), 0u);
}

} // namespace
} // namespace imgbuild::test
