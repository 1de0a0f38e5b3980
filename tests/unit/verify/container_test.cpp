// The containerd check's root filesystem: only a static busybox will do (the guest has no loader for
// a dynamic one), packed as a tar GNU tar unpacks.

#include "verify/container.hpp"

#include <gtest/gtest.h>

#include "imgbuild/core/process.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::verify {
namespace {

TEST(ContainerRootfs, OnlyAStaticElfWillDo) {
    EXPECT_FALSE(is_static_elf("/bin/sh")) << "dash is linked dynamically";
    EXPECT_FALSE(is_static_elf("/etc/passwd"));
    EXPECT_FALSE(is_static_elf("/nonexistent"));
    IMGBUILD_SKIP_IF(static_busybox().empty() ? "no static busybox (package busybox-static)" : "");
    EXPECT_TRUE(is_static_elf(static_busybox()));
}

TEST(ContainerRootfs, TheDiskIsATarOfBusybox) {
    IMGBUILD_SKIP_IF(static_busybox().empty() ? "no static busybox (package busybox-static)" : "");
    test::TempDir dir;
    auto disk = dir.path() / "rootfs.img";
    write_rootfs_disk(disk);
    EXPECT_EQ(std::filesystem::file_size(disk) % 512, 0u);
    auto list = run_process(ProcessOptions{{"tar", "-tvf", disk.string()}});
    ASSERT_TRUE(list.ok()) << list.output;
    EXPECT_NE(list.output.find("bin/busybox"), std::string::npos) << list.output;
    EXPECT_NE(list.output.find("bin/sh -> busybox"), std::string::npos) << list.output;
    EXPECT_NE(list.output.find("proc/"), std::string::npos) << list.output;
    auto out = dir.path() / "out";
    std::filesystem::create_directories(out);
    auto unpack = run_process(ProcessOptions{{"tar", "-x", "-f", disk.string(), "-C", out.string()}});
    ASSERT_TRUE(unpack.ok()) << unpack.output;
    auto run = run_process(ProcessOptions{{(out / "bin/busybox").string(), "echo", "ran"}});
    EXPECT_EQ(run.output, "ran\n");
}

} // namespace
} // namespace imgbuild::verify
