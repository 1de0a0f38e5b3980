// Hostile scripts against the sandbox (src/install/sandbox.cpp): each tries to escape — write outside
// the root, read a host file, reach the network, see host processes, use a capability it must not
// have — first shown to work outside the sandbox, then shown to fail inside it.

#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "imgbuild/core/files.hpp"
#include "imgbuild/install/sandbox.hpp"
#include "support/command.hpp"
#include "support/http_server.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;

class SandboxTest : public TempDirTest {
protected:
    void SetUp() override {
        if (::geteuid() != 0)
            GTEST_SKIP() << "skipped: the sandbox tests run bubblewrap as root, as the install stage does";
        if (!fs::exists("/bin/busybox"))
            GTEST_SKIP() << "skipped: no static busybox (Debian's busybox-static) to build a root from";
        // A root with a static busybox as every tool.
        root = dir.path() / "root";
        for (const char* d : {"usr/bin", "etc", "tmp", "proc", "dev"}) fs::create_directories(root / d);
        fs::create_symlink("usr/bin", root / "bin");
        fs::copy_file("/bin/busybox", root / "usr/bin/busybox");
        for (const char* tool :
             {"sh", "cat", "echo", "ls", "wget", "nc", "ps", "mknod", "mount", "insmod", "id", "grep", "test"})
            fs::create_symlink("busybox", root / "usr/bin" / tool);
        host = dir.path() / "host";
        fs::create_directories(host);
    }

    ProcessResult inside(const std::string& script) {
        install::Sandbox sandbox;
        sandbox.root = root;
        return install::run_sandboxed(sandbox, {"/bin/sh", "-c", script});
    }
    ProcessResult outside(const std::string& script) { return run_process(ProcessOptions{{"/bin/sh", "-c", script}}); }

    fs::path root, host;
};

TEST_F(SandboxTest, ScriptsRunAsRootOfTheRoot) {
    auto result = inside("id -u && cat /etc/marker && echo made > /etc/created");
    dir.write("root/etc/marker", "this is the root\n");
    result = inside("id -u && cat /etc/marker && echo made > /etc/created");
    ASSERT_TRUE(result.ok()) << result.output;
    EXPECT_EQ(result.output, "0\nthis is the root\n");
    EXPECT_EQ(read_file(root / "etc/created"), "made\n");
}

TEST_F(SandboxTest, CannotWriteOutsideTheRoot) {
    fs::path target = host / "written-by-script";
    ASSERT_TRUE(outside("echo x > " + target.string()).ok());
    ASSERT_TRUE(fs::exists(target));
    fs::remove(target);

    auto result = inside("echo x > " + target.string() + "; echo y > /proc/1/root" + target.string() +
                         "; mkdir -p /proc/1/root/x; echo z > /proc/self/root/../../" + target.string() + "; true");
    EXPECT_FALSE(fs::exists(target)) << result.output;
    // Scratch writes land in the sandbox's own /tmp, not the host's.
    auto tmp = inside("echo scratch > /tmp/imgbuild-sandbox-probe && cat /tmp/imgbuild-sandbox-probe");
    EXPECT_EQ(tmp.output, "scratch\n");
    EXPECT_FALSE(fs::exists("/tmp/imgbuild-sandbox-probe"));
}

TEST_F(SandboxTest, CannotReadHostFiles) {
    fs::path secret = host / "secret";
    std::ofstream(secret) << "host secret";
    ASSERT_EQ(outside("cat " + secret.string()).output, "host secret");

    std::vector<std::string> paths{secret.string(), "/proc/1/root" + secret.string(), "/etc/hostname",
                                   "/usr/bin/bwrap"};
    for (const auto& path : paths) {
        auto result = inside("cat " + path + " 2>&1; true");
        EXPECT_EQ(result.output.find("host secret"), std::string::npos) << path << ": " << result.output;
        EXPECT_NE(result.output.find("No such file or directory"), std::string::npos) << path << ": " << result.output;
    }
}

TEST_F(SandboxTest, CannotReachTheNetwork) {
    HttpServer server;
    server.add("/probe", {"reachable"});
    auto host_side = run_command({"/bin/busybox", "wget", "-q", "-O", "-", server.url("/probe")});
    ASSERT_EQ(host_side.out, "reachable");

    auto result = inside("wget -q -T 5 -O - " + server.url("/probe") + " 2>&1; echo status $?");
    EXPECT_EQ(result.output.find("reachable"), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find("status 0"), std::string::npos) << result.output;
    EXPECT_EQ(server.requests("/probe"), 1); // only the host's request arrived
}

TEST_F(SandboxTest, CannotSeeHostProcesses) {
    std::string me = std::to_string(::getpid());
    ASSERT_TRUE(fs::exists("/proc/" + me));
    auto result = inside("test -e /proc/" + me + " && echo visible; ls /proc | grep -c '^[0-9]'");
    EXPECT_EQ(result.output.find("visible"), std::string::npos) << result.output;
    EXPECT_LE(std::stoi(result.output), 4) << "the sandbox sees only its own few processes: " << result.output;
}

TEST_F(SandboxTest, DangerousCapabilitiesAreDropped) {
    auto result = inside("mknod /tmp/disk b 8 0 2>&1 && echo mknod-ok; mount -t tmpfs none /tmp 2>&1 && echo mount-ok; "
                         "grep CapEff /proc/self/status");
    EXPECT_EQ(result.output.find("mknod-ok"), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find("mount-ok"), std::string::npos) << result.output;
    // CAP_MKNOD (27), CAP_SYS_MODULE (16), CAP_SYS_ADMIN (21), CAP_SYS_BOOT (22) are not in the set.
    auto hex = result.output.substr(result.output.find("CapEff:") + 7);
    unsigned long long caps = std::stoull(hex, nullptr, 16);
    for (int bit : {16, 21, 22, 27}) EXPECT_EQ(caps & (1ULL << bit), 0u) << "capability " << bit << " is present";
    EXPECT_NE(caps & (1ULL << 0), 0u) << "CAP_CHOWN, which dpkg needs, is present";
}

} // namespace
} // namespace imgbuild::test
