#include "imgbuild/core/finally.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

namespace imgbuild {
namespace {

TEST(Finally, RunsAtTheEndOfItsScope) {
    int runs = 0;
    {
        Finally count([&] { ++runs; });
        EXPECT_EQ(runs, 0);
    }
    EXPECT_EQ(runs, 1);
}

TEST(Finally, RunsWhenAnExceptionLeavesTheScope) {
    int runs = 0;
    try {
        Finally count([&] { ++runs; });
        throw std::runtime_error("stop");
    } catch (const std::runtime_error&) {
    }
    EXPECT_EQ(runs, 1);
}

} // namespace
} // namespace imgbuild
