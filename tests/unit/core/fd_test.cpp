#include "imgbuild/core/fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <utility>

#include <gtest/gtest.h>

namespace imgbuild {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

TEST(Fd, ClosesWhatItOwnsAtTheEndOfItsScope) {
    int raw = -1;
    {
        Fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        ASSERT_TRUE(fd);
        raw = fd.get();
        EXPECT_TRUE(is_open(raw));
    }
    EXPECT_FALSE(is_open(raw));
}

TEST(Fd, MovesOwnershipAndLeavesTheSourceEmpty) {
    Fd first(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    int raw = first.get();
    Fd second(std::move(first));
    EXPECT_FALSE(first); // NOLINT(bugprone-use-after-move): the moved-from state is what is tested
    EXPECT_EQ(first.get(), -1);
    EXPECT_EQ(second.get(), raw);
    Fd third;
    third = std::move(second);
    EXPECT_EQ(third.get(), raw);
    EXPECT_TRUE(is_open(raw));
}

TEST(Fd, MoveAssignmentClosesTheDescriptorItHeld) {
    Fd target(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    int old = target.get();
    target = Fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    EXPECT_TRUE(target);
    EXPECT_NE(target.get(), old);
    EXPECT_FALSE(is_open(old));
}

TEST(Fd, ReleaseHandsTheDescriptorOnWithoutClosingIt) {
    int raw = -1;
    {
        Fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        raw = fd.release();
        EXPECT_FALSE(fd);
    }
    EXPECT_TRUE(is_open(raw));
    ::close(raw);
}

TEST(Fd, ResetClosesTheOldDescriptorAndOwnsTheNewOne) {
    Fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    int old = fd.get();
    int other = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    fd.reset(other);
    EXPECT_FALSE(is_open(old));
    EXPECT_EQ(fd.get(), other);
    fd.reset();
    EXPECT_FALSE(fd);
    EXPECT_FALSE(is_open(other));
    EXPECT_EQ(fd.close(), 0); // nothing held: nothing to close
}

TEST(Pipe, CarriesBytesFromItsWriteEndToItsReadEnd) {
    Pipe pipe = make_pipe();
    ASSERT_TRUE(pipe.read);
    ASSERT_TRUE(pipe.write);
    EXPECT_EQ(::write(pipe.write.get(), "x", 1), 1);
    pipe.write.close();
    char byte = 0;
    EXPECT_EQ(::read(pipe.read.get(), &byte, 1), 1);
    EXPECT_EQ(byte, 'x');
    EXPECT_EQ(::read(pipe.read.get(), &byte, 1), 0); // the write end is closed
    EXPECT_NE(::fcntl(pipe.read.get(), F_GETFD) & FD_CLOEXEC, 0);
}

} // namespace
} // namespace imgbuild
