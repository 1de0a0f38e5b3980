// grub.cfg from boot entries whose options carry what GRUB's script lexer reads as syntax: every word
// must reach the kernel as written, nothing after it may be cut off (ostree= comes last), and GRUB
// must accept the file (grub-script-check, from grub-common).

#include "image/grub.hpp"

#include <gtest/gtest.h>

#include "imgbuild/core/files.hpp"
#include "imgbuild/core/process.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::image {
namespace {

const std::vector<std::string> hostile = {"root=UUID=1234",
                                          "rw",
                                          "a;b",
                                          "c$(reboot)",
                                          "d'e",
                                          "f\"g",
                                          "h{i}",
                                          "#comment",
                                          "j\\k",
                                          "${prefix}",
                                          "*",
                                          "l&&m",
                                          "n|o",
                                          "p>q",
                                          "ostree=/ostree/boot.1/x/y/0"};

std::string options_of(const std::vector<std::string>& words) {
    std::string line;
    for (const auto& word : words) line += (line.empty() ? "" : " ") + word;
    return line;
}

std::string config_for(const std::vector<std::string>& words) {
    BootEntry entry{"Node 1 (ostree:0)", "/ostree/node-abc/vmlinuz-5.10", "/ostree/node-abc/initramfs-5.10.img",
                    options_of(words), 2};
    return grub_config({entry}, GrubSettings{"0a1b2c3d-0000-4000-8000-000000000001"});
}

std::string linux_line(const std::string& config) {
    auto start = config.find("    linux ");
    EXPECT_NE(start, std::string::npos) << config;
    auto end = config.find('\n', start);
    return config.substr(start + 10, end - start - 10);
}

TEST(GrubConfig, EveryWordOfTheLinuxLineIsSingleQuoted) {
    std::string line = linux_line(config_for({"console=ttyS0,115200n8", "quiet"}));
    EXPECT_EQ(line, "'/boot/ostree/node-abc/vmlinuz-5.10' 'console=ttyS0,115200n8' 'quiet'");
    EXPECT_NE(config_for({}).find("    initrd '/boot/ostree/node-abc/initramfs-5.10.img'\n"), std::string::npos);
}

// GRUB's single quotes work as the shell's (no expansion inside; '\'' for a quote), so the shell's word
// splitting recovers the words the kernel will see.
TEST(GrubConfig, MetacharactersReachTheKernelAsWritten) {
    std::string line = linux_line(config_for(hostile));
    auto result =
        run_process(ProcessOptions{{"/bin/sh", "-c", "eval \"set -- $1\"; printf '%s\\n' \"$@\"", "sh", line}});
    ASSERT_TRUE(result.ok()) << result.output;
    std::string expected = "/boot/ostree/node-abc/vmlinuz-5.10\n";
    for (const auto& word : hostile) expected += word + "\n";
    EXPECT_EQ(result.output, expected);
}

class GrubConfigFile : public test::TempDirTest {};

TEST_F(GrubConfigFile, GrubAcceptsItWithHostileArguments) {
    if (find_program("grub-script-check").empty()) GTEST_SKIP() << "skipped: no grub-script-check (grub-common)";
    auto file = dir.write("grub.cfg", config_for(hostile));
    auto result = run_process(ProcessOptions{{"grub-script-check", file.string()}});
    EXPECT_TRUE(result.ok()) << result.output;
    // The same options unquoted are what broke grub.cfg: the check tells them apart.
    std::string raw = config_for({});
    raw.replace(raw.find("    linux "), linux_line(raw).size() + 10, "    linux /boot/vmlinuz " + options_of(hostile));
    auto broken = dir.write("broken.cfg", raw);
    EXPECT_FALSE(run_process(ProcessOptions{{"grub-script-check", broken.string()}}).ok());
}

} // namespace
} // namespace imgbuild::image
