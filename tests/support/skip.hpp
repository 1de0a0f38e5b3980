#pragma once
// Skipping a test that cannot run on this machine, visibly: GoogleTest's "[  SKIPPED ]" with the reason,
// which CTest reports as a skip (tests/CMakeLists.txt). The reasons are computed by functions that return
// "" when the test can run, so a test states its needs in one line.

#include <unistd.h>

#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "imgbuild/recipe/apt_sources.hpp"

// Skips the running test (from its body or SetUp) with "skipped: REASON" unless `reason` is empty.
#define IMGBUILD_SKIP_IF(reason)                                                                                       \
    do {                                                                                                               \
        if (std::string skip_reason = (reason); !skip_reason.empty()) GTEST_SKIP() << "skipped: " << skip_reason;      \
    } while (false)

namespace imgbuild::test {

// `why` (what root is needed for) unless the test runs as root.
inline std::string unless_root(std::string_view why) { return ::geteuid() == 0 ? std::string() : std::string(why); }

// For the tests that build the default recipe from the host's Debian mirror: `root_why` unless run as
// root, then whether the host's apt sources name a Debian archive.
inline std::string unless_root_and_mirror(std::string_view root_why) {
    if (::geteuid() != 0) return std::string(root_why);
    if (!recipe::find_debian_archives(recipe::read_apt_sources("/etc/apt")).main)
        return "the host's apt sources name no Debian archive";
    return {};
}

} // namespace imgbuild::test
