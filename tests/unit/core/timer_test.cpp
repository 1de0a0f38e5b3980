// StageTimes: every stage's seconds recorded by name, a stage that throws included.

#include "imgbuild/core/timer.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

namespace imgbuild {
namespace {

TEST(StageTimes, RecordsEachStageAndReturnsItsValue) {
    StageTimes times;
    int value = times.run("resolve", [] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return 7;
    });
    EXPECT_EQ(value, 7);
    times.run("install", [] {});
    ASSERT_EQ(times.seconds().size(), 2u);
    EXPECT_GE(times.seconds().at("resolve"), 0.02);
    EXPECT_LT(times.seconds().at("install"), times.seconds().at("resolve"));
}

TEST(StageTimes, AStageThatThrowsIsRecordedAndARepeatedOneAddsUp) {
    StageTimes times;
    EXPECT_THROW(times.run("commit", []() -> int { throw std::runtime_error("no"); }), std::runtime_error);
    EXPECT_EQ(times.seconds().count("commit"), 1u);
    times.add("image", 1.5);
    times.add("image", 2.0);
    EXPECT_DOUBLE_EQ(times.seconds().at("image"), 3.5);
}

} // namespace
} // namespace imgbuild
