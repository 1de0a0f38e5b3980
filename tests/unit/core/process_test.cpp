// run_process hands a program only the descriptors it is given: every other one of ours is closed in
// the child, with or without O_CLOEXEC, and a bad request fails before anything runs.

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/process.hpp"

namespace imgbuild {
namespace {

// A descriptor opened without O_CLOEXEC, as a careless library would.
struct Leaked {
    int fd = ::open("/dev/null", O_RDONLY);
    ~Leaked() { ::close(fd); }
};

std::string open_among(const std::vector<int>& fds, const ProcessOptions& base) {
    std::string script = "for fd in";
    for (int fd : fds) script += " " + std::to_string(fd);
    script += "; do if [ -e /proc/self/fd/$fd ]; then echo open $fd; fi; done";
    ProcessOptions options = base;
    options.argv = {"/bin/sh", "-c", script};
    auto result = run_process(options);
    EXPECT_TRUE(result.ok()) << result.output;
    return result.output;
}

TEST(RunProcess, OnlyThePassedDescriptorsReachTheProgram) {
    Leaked passed, other, cloexec;
    ASSERT_GE(other.fd, 3);
    ::fcntl(cloexec.fd, F_SETFD, FD_CLOEXEC); // a passed descriptor loses the flag in the child
    ProcessOptions options;
    options.pass_fds = {passed.fd, cloexec.fd};
    EXPECT_EQ(open_among({passed.fd, other.fd, cloexec.fd}, options),
              "open " + std::to_string(passed.fd) + "\nopen " + std::to_string(cloexec.fd) + "\n");
    // Ours keep their flags: the parent's descriptor is still open and not close-on-exec.
    EXPECT_EQ(::fcntl(other.fd, F_GETFD), 0);
    EXPECT_EQ(::fcntl(cloexec.fd, F_GETFD), FD_CLOEXEC);
    EXPECT_EQ(open_among({passed.fd, other.fd}, ProcessOptions{}), "") << "nothing is passed unless asked";
}

TEST(RunProcess, ADescriptorThatIsNotOpenCannotBePassed) {
    ProcessOptions options{{"/bin/true"}};
    options.pass_fds = {1000};
    try {
        run_process(options);
        FAIL() << "expected an Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("descriptor 1000 to hand it is not open"), std::string::npos) << e.what();
    }
    options.pass_fds = {2};
    EXPECT_THROW(run_process(options), Error) << "0, 1 and 2 are the pipes'";
}

TEST(RunProcess, AUserNamespaceThatCannotBeJoinedIsNamed) {
    Leaked not_a_namespace;
    ProcessOptions options{{"/bin/true"}};
    options.user_namespace = not_a_namespace.fd;
    try {
        run_process(options);
        FAIL() << "expected an Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("Failed to run '/bin/true': cannot join its user namespace:"),
                  std::string::npos)
            << e.what();
    }
}

} // namespace
} // namespace imgbuild
