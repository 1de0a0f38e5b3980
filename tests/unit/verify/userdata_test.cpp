// `imgbuild test --user-data`: what a #cloud-config or #! script promises the booted node, the bad
// input refused with the file (and line:column) named, and the NoCloud seed made without a mount.

#include "verify/userdata.hpp"

#include <gtest/gtest.h>

#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/process.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::verify {
namespace {

std::string usage_error(const std::string& text) {
    try {
        parse_user_data(text, "/in/user-data.yaml");
    } catch (const UsageError& e) {
        return e.what();
    }
    return "no error";
}

TEST(UserData, CloudConfigGivesHostnameFilesAndCommands) {
    auto data = parse_user_data("#cloud-config\n"
                                "hostname: node-17\n"
                                "write_files:\n"
                                "  - path: /etc/node/role\n"
                                "    content: |\n"
                                "      worker\n"
                                "    permissions: '0640'\n"
                                "  - path: /etc/node/token\n"
                                "    encoding: b64\n"
                                "    content: c2VjcmV0\n"
                                "    owner: root:root\n"
                                "  - {path: /etc/node/gz, encoding: gzip, content: abc}\n"
                                "  - {path: /etc/node/log, append: true, content: more}\n"
                                "runcmd:\n"
                                "  - echo joined\n",
                                "ud.yaml");
    EXPECT_FALSE(data.script);
    EXPECT_EQ(data.hostname, "node-17");
    ASSERT_EQ(data.files.size(), 4u);
    EXPECT_EQ(data.files[0].path, "/etc/node/role");
    EXPECT_EQ(data.files[0].content, "worker\n");
    EXPECT_EQ(data.files[0].permissions, "640");
    EXPECT_EQ(data.files[1].content, "secret");
    EXPECT_EQ(data.files[1].owner, "root:root");
    EXPECT_FALSE(data.files[2].content_known);
    EXPECT_TRUE(data.files[3].append);
    EXPECT_TRUE(data.commands);
    EXPECT_EQ(data.sha256, sha256_hex(data.text));
}

TEST(UserData, AScriptRunsAsItIs) {
    auto data = parse_user_data("#!/bin/sh\necho hi\n", "join.sh");
    EXPECT_TRUE(data.script);
    EXPECT_TRUE(data.commands);
    EXPECT_FALSE(data.hostname);
    auto empty = parse_user_data("#cloud-config\n", "empty.yaml");
    EXPECT_FALSE(empty.commands);
    EXPECT_TRUE(empty.files.empty());
}

TEST(UserData, BadInputNamesTheFileAndPlace) {
    EXPECT_EQ(usage_error("hostname: x\n").find("/in/user-data.yaml: not user data"), 0u)
        << usage_error("hostname: x\n");
    EXPECT_NE(usage_error("").find("'#cloud-config'"), std::string::npos);
    // A YAML error: line and column of the file (1-based, the "#cloud-config" line is line 1).
    auto broken = usage_error("#cloud-config\nhostname: [unclosed\nruncmd: x\n");
    EXPECT_EQ(broken.rfind("/in/user-data.yaml:", 0), 0u) << broken;
    EXPECT_NE(broken.find(":3:"), std::string::npos) << broken;
    auto list = usage_error("#cloud-config\n- a\n- b\n");
    EXPECT_EQ(list.rfind("/in/user-data.yaml:2:1: ", 0), 0u) << list;
    EXPECT_NE(list.find("mapping"), std::string::npos) << list;
    auto files = usage_error("#cloud-config\nwrite_files:\n  path: /x\n");
    EXPECT_EQ(files.rfind("/in/user-data.yaml:3:3: write_files must be a list", 0), 0u) << files;
    auto relative = usage_error("#cloud-config\nwrite_files:\n  - path: etc/x\n");
    EXPECT_EQ(relative.rfind("/in/user-data.yaml:3:11: write_files path 'etc/x' is not absolute", 0), 0u) << relative;
    auto mode = usage_error("#cloud-config\nwrite_files:\n  - {path: /x, permissions: rw}\n");
    EXPECT_NE(mode.find("not an octal mode"), std::string::npos) << mode;
    auto runcmd = usage_error("#cloud-config\nruncmd: echo\n");
    EXPECT_NE(runcmd.find(":2:9: runcmd must be a list"), std::string::npos) << runcmd;
}

TEST(UserData, AMissingFileIsNamed) {
    try {
        read_user_data("/nonexistent/user-data");
        FAIL() << "no error";
    } catch (const UsageError& e) {
        EXPECT_STREQ(e.what(), "--user-data '/nonexistent/user-data': no such file");
    }
    test::TempDir dir;
    try {
        read_user_data(dir.path());
        FAIL() << "no error";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
    }
}

TEST(UserData, TheSeedIsAFatDiskLabelledCidata) {
    IMGBUILD_SKIP_IF(find_program("mkfs.vfat").empty() || find_program("mcopy").empty()
                         ? "no mkfs.vfat or mcopy (packages dosfstools, mtools)"
                         : "");
    test::TempDir dir;
    auto data = parse_user_data("#cloud-config\nhostname: seeded\n", "ud.yaml");
    auto seed = dir.path() / "seed.img";
    write_seed_disk(seed, data, "imgbuild-test-1", dir.path());
    auto label = run_process(ProcessOptions{{"blkid", "-o", "value", "-s", "LABEL", seed.string()}});
    if (label.ok()) {
        EXPECT_EQ(label.output, "CIDATA\n");
    }
    auto user = run_process(
        ProcessOptions{.argv = {"mtype", "-i", seed.string(), "::user-data"}, .env = {"MTOOLS_SKIP_CHECK=1"}});
    EXPECT_EQ(user.output, data.text);
    auto meta = run_process(
        ProcessOptions{.argv = {"mtype", "-i", seed.string(), "::meta-data"}, .env = {"MTOOLS_SKIP_CHECK=1"}});
    EXPECT_EQ(meta.output, "instance-id: imgbuild-test-1\n");
}

} // namespace
} // namespace imgbuild::verify
