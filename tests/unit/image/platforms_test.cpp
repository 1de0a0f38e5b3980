// The platform → artifact plan: the clouds get a zlib qcow2 beside a zstd recipe's, one file per
// (format, compression) however many platforms share it, raw-only recipes give every platform the raw;
// and SHA256SUMS's text is what `sha256sum -c` reads.

#include "imgbuild/image/platforms.hpp"

#include <gtest/gtest.h>

#include "imgbuild/core/error.hpp"

namespace imgbuild::image {
namespace {

const DiskOutput raw{"raw", "raw", "none", ".raw"};
const DiskOutput zstd{"qcow2", "qcow2", "zstd", ".qcow2"};
const DiskOutput zlib_extra{"qcow2-zlib", "qcow2", "zlib", ".zlib.qcow2"};
const std::string ecs_page = "https://www.alibabacloud.com/help/en/ecs/user-guide/import-a-custom-image";
const std::string cvm_page = "https://www.tencentcloud.com/document/product/213/33270";

TEST(PlanOutputs, AZstdRecipeGivesTheCloudsOneZlibQcow2AndQemuItsOwn) {
    auto plan = plan_outputs({"qcow2", "raw"}, "zstd", {"ecs", "cvm", "qemu"});
    EXPECT_EQ(plan.disks, (std::vector<DiskOutput>{zstd, raw, zlib_extra}));
    ASSERT_EQ(plan.platforms.size(), 3u);
    EXPECT_EQ(plan.platforms[0], (PlatformArtifact{"ecs", "qcow2-zlib", "qcow2", "zlib", ecs_page}));
    EXPECT_EQ(plan.platforms[1], (PlatformArtifact{"cvm", "qcow2-zlib", "qcow2", "zlib", cvm_page}));
    EXPECT_EQ(plan.platforms[2], (PlatformArtifact{"qemu", "qcow2", "qcow2", "zstd", ""}));
}

TEST(PlanOutputs, QemuAloneWritesOnlyTheRecipesFormats) {
    auto plan = plan_outputs({"qcow2"}, "zstd", {"qemu"});
    EXPECT_EQ(plan.disks, std::vector<DiskOutput>{zstd});
    EXPECT_EQ(plan.platforms, (std::vector<PlatformArtifact>{{"qemu", "qcow2", "qcow2", "zstd", ""}}));
}

TEST(PlanOutputs, AZlibOrUncompressedQcow2IsSharedByEveryPlatform) {
    for (const std::string compress : {"zlib", "none"}) {
        auto plan = plan_outputs({"qcow2"}, compress, {"qemu", "ecs", "cvm"});
        EXPECT_EQ(plan.disks, (std::vector<DiskOutput>{{"qcow2", "qcow2", compress, ".qcow2"}})) << compress;
        for (const auto& platform : plan.platforms) {
            EXPECT_EQ(platform.key, "qcow2") << platform.platform;
            EXPECT_EQ(platform.compression, compress) << platform.platform;
        }
    }
}

TEST(PlanOutputs, ARawOnlyRecipeGivesEveryPlatformTheRaw) {
    auto plan = plan_outputs({"raw"}, "zstd", {"ecs", "qemu"});
    EXPECT_EQ(plan.disks, std::vector<DiskOutput>{raw});
    EXPECT_EQ(plan.platforms[0], (PlatformArtifact{"ecs", "raw", "raw", "none", ecs_page}));
    EXPECT_EQ(plan.platforms[1], (PlatformArtifact{"qemu", "raw", "raw", "none", ""}));
}

TEST(PlanOutputs, ACloudAloneStillGetsTheRecipesQcow2WrittenAndItsOwn) {
    // image.formats is written as asked; the cloud's zlib file comes in addition.
    auto plan = plan_outputs({"qcow2"}, "zstd", {"cvm"});
    EXPECT_EQ(plan.disks, (std::vector<DiskOutput>{zstd, zlib_extra}));
    EXPECT_EQ(plan.platforms.size(), 1u);
}

TEST(PlanOutputs, ANamedPlatformOrFormatTwiceIsPlannedOnce) {
    auto plan = plan_outputs({"qcow2", "qcow2"}, "zstd", {"ecs", "ecs"});
    EXPECT_EQ(plan.disks, (std::vector<DiskOutput>{zstd, zlib_extra}));
    EXPECT_EQ(plan.platforms.size(), 1u);
}

TEST(PlanOutputs, UnknownNamesAreUsageErrors) {
    EXPECT_THROW(plan_outputs({"qcow2"}, "zstd", {"gce"}), UsageError);
    EXPECT_THROW(plan_outputs({"vmdk"}, "zstd", {"qemu"}), UsageError);
    EXPECT_THROW(plan_outputs({"qcow2"}, "lz4", {"qemu"}), UsageError);
    EXPECT_THROW(plan_outputs({}, "zstd", {"qemu"}), UsageError);
    try {
        plan_outputs({"qcow2"}, "zstd", {"qemu", "gce"});
        FAIL() << "no error";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("unknown platform 'gce' (ecs, cvm, qemu)"), std::string::npos) << e.what();
    }
}

TEST(Sha256Sums, OneLinePerFileByNameWithTwoSpaces) {
    EXPECT_EQ(sha256sums_text({{"node-1.qcow2", "bb"}, {"lock.json", "aa"}, {"node-1.zlib.qcow2", "cc"}}),
              "aa  lock.json\nbb  node-1.qcow2\ncc  node-1.zlib.qcow2\n");
    EXPECT_EQ(sha256sums_text({}), "");
}

TEST(Sha256Sums, NamesWithABackslashOrNewlineAreEscapedAsSha256sumDoes) {
    EXPECT_EQ(sha256sums_text({{"a\\b\nc", "dd"}}), "\\dd  a\\\\b\\nc\n");
}

} // namespace
} // namespace imgbuild::image
