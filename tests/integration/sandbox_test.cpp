// Hostile scripts against the sandbox (src/install/sandbox.cpp): each tries to escape — write outside
// the root, read a host file, reach the network, see host processes, use a capability it must not
// have — first shown to work outside the sandbox, then shown to fail inside it. A hostile package
// (tests/fixtures/sandbox-probe.c in its postinst, installed by dpkg) tries every way out at once and
// records what it managed: open_by_handle_at, /proc/sys, mounts, namespaces, ptrace, a leaked
// descriptor, another ABI, and the system calls the seccomp filter denies.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "imgbuild/core/files.hpp"
#include "imgbuild/install/sandbox.hpp"
#include "support/command.hpp"
#include "support/fixture_recipe.hpp"
#include "support/http_server.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;

const fs::path fixtures = IMGBUILD_FIXTURE_REPOS;

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
    // CAP_DAC_READ_SEARCH (2, open_by_handle_at), CAP_SYS_MODULE (16), CAP_SYS_ADMIN (21), CAP_SYS_BOOT
    // (22), CAP_MKNOD (27) are not in the set.
    auto hex = result.output.substr(result.output.find("CapEff:") + 7);
    unsigned long long caps = std::stoull(hex, nullptr, 16);
    for (int bit : {2, 16, 21, 22, 27}) EXPECT_EQ(caps & (1ULL << bit), 0u) << "capability " << bit << " is present";
    EXPECT_NE(caps & (1ULL << 0), 0u) << "CAP_CHOWN, which dpkg needs, is present";
}

TEST_F(SandboxTest, RunsInAUserNamespaceThatMapsEveryIdToItself) {
    auto host_namespace = fs::read_symlink("/proc/self/ns/user").string();
    auto result = inside("cat /proc/self/uid_map /proc/self/gid_map; readlink /proc/self/ns/user; "
                         "echo x > /etc/owned && chown 100:101 /etc/owned && echo chowned");
    ASSERT_TRUE(result.ok()) << result.output;
    std::istringstream lines(result.output);
    std::string uid_map, gid_map, ns;
    std::getline(lines, uid_map);
    std::getline(lines, gid_map);
    std::getline(lines, ns);
    // "0 0 4294967295", however the kernel pads it: uid 0 inside is uid 0 outside, and so on.
    for (const auto& map : {uid_map, gid_map}) {
        std::istringstream fields(map);
        unsigned long inner = 1, outer = 1, count = 0;
        fields >> inner >> outer >> count;
        EXPECT_EQ(inner, 0u) << map;
        EXPECT_EQ(outer, 0u) << map;
        EXPECT_EQ(count, 4294967295u) << map;
    }
    EXPECT_NE(ns, host_namespace) << "the sandbox has a user namespace of its own";
    // A chown inside gives the file that owner on the disk: the map is the identity.
    struct stat info {};
    ASSERT_EQ(::stat((root / "etc/owned").c_str(), &info), 0) << result.output;
    EXPECT_EQ(info.st_uid, 100u);
    EXPECT_EQ(info.st_gid, 101u);
}

TEST_F(SandboxTest, KernelKnobsUnderProcAreReadOnlyInBothViews) {
    // Written back with the value just read: were it writable, nothing would change.
    const std::string write_back = "v=$(cat P/sys/kernel/core_pattern) && echo \"$v\" > P/sys/kernel/core_pattern "
                                   "&& echo P-core_pattern-written; ";
    auto for_proc = [&](const std::string& proc) {
        std::string script = write_back;
        for (auto at = script.find('P'); at != std::string::npos; at = script.find('P', at + proc.size()))
            script.replace(at, 1, proc);
        return script;
    };
    ASSERT_TRUE(outside("v=$(cat /proc/sys/kernel/core_pattern) && test -w /proc/sys/kernel/core_pattern").ok())
        << "as root on the host the knob is writable";

    auto result = inside(for_proc("/proc") + "grep -c ' /proc/sys ro,' /proc/self/mountinfo");
    EXPECT_EQ(result.output.find("written"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("Read-only file system"), std::string::npos) << result.output;

    // The host-tools view has two: its own, and the one in the root for rpm's chroot.
    install::Sandbox tools;
    tools.view = install::Sandbox::View::host_tools;
    tools.root = root;
    auto both = install::run_sandboxed(
        tools,
        {"/bin/sh", "-c", for_proc("/proc") + for_proc(install::sandbox_root_mount.string() + "/proc") + "true"});
    EXPECT_TRUE(both.ok()) << both.output;
    EXPECT_EQ(both.output.find("written"), std::string::npos) << both.output;
}

TEST_F(SandboxTest, TheSeccompFilterDeniesWithEperm) {
    // BusyBox's unshare and mount make the calls; the filter answers before the kernel looks at them.
    for (const char* tool : {"unshare", "nsenter", "umount"}) fs::create_symlink("busybox", root / "usr/bin" / tool);
    auto result = inside("unshare -U true 2>&1; echo status $?; mount -t tmpfs none /tmp 2>&1; "
                         "nsenter -t 1 -m true 2>&1; echo done");
    EXPECT_EQ(result.output.find("status 0"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("Operation not permitted"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("done"), std::string::npos) << result.output;
}

TEST_F(SandboxTest, ACopyOnWriteViewIsARootForRootAndForOtherUsers) {
    if (find_program("rofiles-fuse").empty()) GTEST_SKIP() << "skipped: no rofiles-fuse (Debian's ostree package)";
    fs::create_symlink("busybox", root / "usr/bin/su");
    dir.write("root/etc/passwd", "root:x:0:0:root:/:/bin/sh\nservice:x:100:100::/:/bin/sh\n");
    dir.write("root/etc/group", "root:x:0:\nservice:x:100:\n");
    dir.write("root/etc/shared", "shared\n");
    fs::create_hard_link(root / "etc/shared", dir.path() / "cache-object"); // as the tree cache's objects are
    dir.write("root/etc/public", "public\n");
    install::CopyOnWriteView view(root, dir.path() / "view", "run the test's script");

    install::Sandbox sandbox;
    sandbox.root = view.path();
    // Root edits a shared file (copied up first) and makes one; a system user reads a public file, as a
    // maintainer script run through su or runuser would.
    auto result = install::run_sandboxed(
        sandbox, {"/bin/sh", "-c",
                  "echo changed >> /etc/shared && echo new > /etc/new && chown 100:100 /etc/new && "
                  "su -s /bin/sh service -c 'id -u; cat /etc/public /etc/new'"});
    EXPECT_TRUE(result.ok()) << result.output;
    EXPECT_EQ(result.output, "100\npublic\nnew\n");
    EXPECT_EQ(read_file(dir.path() / "cache-object"), "shared\n") << "the cache's file is not written through";
    EXPECT_EQ(read_file(root / "etc/shared"), "shared\nchanged\n");
    struct stat info {};
    ASSERT_EQ(::stat((root / "etc/new").c_str(), &info), 0);
    EXPECT_EQ(info.st_uid, 100u);
}

// The probe, built static for this machine, or "" with the reason in `why`.
fs::path build_probe(const fs::path& dir, std::string& why) {
    fs::path source = fs::path(IMGBUILD_SOURCE_DIR) / "tests/fixtures/sandbox-probe.c";
    fs::path probe = dir / "sandbox-probe";
    auto result = run_command({"gcc", "-static", "-O1", "-o", probe.string(), source.string()});
    if (result.exit_code != 0) {
        why = "gcc -static cannot build the probe here (static glibc: libc6-dev): " + result.err;
        return {};
    }
    return probe;
}

// A report line: "NAME ok DETAIL" or "NAME fail ERROR DETAIL".
struct Attempt {
    bool ok = false;
    std::string error; // EPERM, ENOENT, "Bad system call", …
    std::string line;
};

std::map<std::string, Attempt> read_report(const fs::path& file) {
    std::map<std::string, Attempt> attempts;
    std::istringstream lines(read_file(file));
    for (std::string line; std::getline(lines, line);) {
        std::istringstream fields(line);
        std::string name, status;
        fields >> name >> status;
        Attempt attempt{status == "ok", "", line};
        if (status == "fail") {
            // Signals are named in words ("Bad system call"): the error is what precedes the detail,
            // which the probe starts with a known word or a path; take the first word, or the signal.
            fields >> attempt.error;
            if (attempt.error == "Bad") attempt.error = "SIGSYS";
        }
        attempts[name] = attempt;
    }
    return attempts;
}

std::uint64_t fnv1a(const std::string& data) {
    std::uint64_t hash = 1469598103934665603ULL;
    for (char c : data) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    return hash;
}

std::string hex_fnv(const std::string& data) { return fmt::format("{:016x}", fnv1a(data)); }

// The host's side of the hostile package test: a secret, its directory's file handle, a leaked
// descriptor, a listening port, a process to trace, a file to create in /var/tmp.
class HostileProbeTest : public SandboxTest {
protected:
    void SetUp() override {
        SandboxTest::SetUp();
        if (IsSkipped()) return;
        std::string why;
        probe = build_probe(dir.path(), why);
        if (probe.empty()) GTEST_SKIP() << "skipped: " << why;

        dir.write("host/secret", "host secret");
        int mount_id = 0;
        alignas(file_handle) unsigned char storage[sizeof(file_handle) + MAX_HANDLE_SZ] = {};
        auto* handle = reinterpret_cast<file_handle*>(storage);
        handle->handle_bytes = MAX_HANDLE_SZ;
        ASSERT_EQ(::name_to_handle_at(AT_FDCWD, host.c_str(), handle, &mount_id, 0), 0);
        std::string hex;
        for (unsigned i = 0; i < handle->handle_bytes; ++i)
            hex += fmt::format("{:02x}", storage[sizeof(file_handle) + i]);
        // Deliberately without O_CLOEXEC: whoever starts the sandbox holds it, as a careless caller would.
        leaked = ::open(host.c_str(), O_PATH | O_DIRECTORY);
        ASSERT_GE(leaked, 3);

        listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        ASSERT_EQ(::listen(listener, 8), 0);
        ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);

        sleeper = ::fork();
        if (sleeper == 0) {
            ::execl("/bin/sleep", "sleep", "120", nullptr);
            _exit(127);
        }
        struct stat disk {};
        ::stat("/", &disk);
        host_tmp_file = fmt::format("/var/tmp/imgbuild-sandbox-probe-{}", ::getpid());
        settings = {{"PROBE_HOST_DIR", host.string()},
                    {"PROBE_SECRET", "host secret"},
                    {"PROBE_HANDLE", fmt::format("{}:{}", handle->handle_type, hex)},
                    {"PROBE_WRITE", host_tmp_file},
                    {"PROBE_PORT", std::to_string(ntohs(address.sin_port))},
                    {"PROBE_PID", std::to_string(sleeper)},
                    {"PROBE_FD", std::to_string(leaked)},
                    {"PROBE_DEVICE", fmt::format("{}:{}", major(disk.st_dev), minor(disk.st_dev))}};
    }
    void TearDown() override {
        if (sleeper > 0) {
            ::kill(sleeper, SIGKILL);
            ::waitpid(sleeper, nullptr, 0);
        }
        if (leaked >= 0) ::close(leaked);
        if (listener >= 0) ::close(listener);
        std::error_code ec;
        if (!host_tmp_file.empty()) fs::remove(host_tmp_file, ec);
    }

    // The probe run straight on the host, as root, the leaked descriptor inherited: what each attempt
    // does when nothing stands in its way. In a mount namespace of its own, so its mount attempt
    // leaves the host's table alone.
    std::map<std::string, Attempt> run_outside() {
        auto env = settings;
        env["PROBE_SCRATCH"] = (dir.path() / "scratch").string();
        fs::create_directories(dir.path() / "scratch");
        fs::path report = dir.path() / "outside-report";
        auto result =
            run_command({"unshare", "--mount", "--propagation", "private", probe.string(), report.string()}, {}, env);
        EXPECT_EQ(result.exit_code, 0) << result.err;
        return read_report(report);
    }

    // Inside the hostile package's postinst, installed by the root's dpkg in the sandbox.
    std::map<std::string, Attempt> run_in_postinst() {
        fs::path dpkg_deb = fixtures / "deb/pool/main/d/dpkg/dpkg_1.0_amd64.deb";
        if (!fs::exists(dpkg_deb)) {
            ADD_FAILURE() << "no fixture dpkg package at " << dpkg_deb << " (tests/fixtures/make-repos.sh)";
            return {};
        }
        // A root with dpkg (the fixture's: the host's dpkg programs and a static BusyBox).
        fs::path deb_root = dir.path() / "deb-root";
        fs::create_directories(deb_root);
        auto extracted = run_command({"dpkg-deb", "-x", dpkg_deb.string(), deb_root.string()});
        EXPECT_EQ(extracted.exit_code, 0) << extracted.err;
        for (const char* d :
             {"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/tmp", "tmp", "dev", "proc", "run", "etc"})
            fs::create_directories(deb_root / d);
        for (const char* f : {"var/lib/dpkg/status", "var/lib/dpkg/available"}) std::ofstream(deb_root / f);
        write_file_atomic(deb_root / "etc/shadow", "root:*:19000:0:99999:7:::\n");
        // Merged /usr, as imgbuild makes it: the programs' loader is /lib64/ld-linux-x86-64.so.2.
        for (const char* d : {"bin", "sbin", "lib", "lib64"})
            if (fs::exists(deb_root / "usr" / d)) fs::create_symlink(fs::path("usr") / d, deb_root / d);

        // The hostile package: the probe and a postinst that runs it.
        fs::path stage = dir.path() / "hostile";
        fs::create_directories(stage / "DEBIAN");
        fs::create_directories(stage / "usr/lib/sandbox-probe");
        fs::copy_file(probe, stage / "usr/lib/sandbox-probe/probe");
        write_file_atomic(stage / "DEBIAN/control",
                          "Package: hostile-probe\nVersion: 1.0\nArchitecture: amd64\n"
                          "Maintainer: imgbuild tests <tests@example.invalid>\n"
                          "Description: tries every way out of the sandbox in its postinst\n");
        write_file_atomic(stage / "DEBIAN/postinst",
                          "#!/bin/sh\nset -e\n/usr/lib/sandbox-probe/probe /usr/share/sandbox-probe/report\n", 0755);
        fs::create_directories(dir.path() / "packages");
        auto built = run_command({"dpkg-deb", "--root-owner-group", "--build", stage.string(),
                                  (dir.path() / "packages/hostile-probe.deb").string()});
        EXPECT_EQ(built.exit_code, 0) << built.err;

        install::Sandbox sandbox;
        sandbox.root = deb_root;
        sandbox.read_only = {{dir.path() / "packages", "/run/imgbuild/packages"}};
        sandbox.env = {"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C", "PROBE_SCRATCH=/tmp"};
        for (const auto& [name, value] : settings) sandbox.env.push_back(name + "=" + value);
        auto result = install::run_sandboxed(
            sandbox, {"dpkg", "--force-unsafe-io", "-i", "/run/imgbuild/packages/hostile-probe.deb"});
        EXPECT_TRUE(result.ok()) << result.output;
        image_shadow = read_file(deb_root / "etc/shadow");
        return read_report(deb_root / "usr/share/sandbox-probe/report");
    }

    void expect_every_way_out_closed(const std::map<std::string, Attempt>& report, bool leaked_fd_configured);

    fs::path probe;
    int leaked = -1, listener = -1;
    pid_t sleeper = -1;
    std::string host_tmp_file, image_shadow;
    std::map<std::string, std::string> settings;
};

// Each way out, shown to work on the host (so the attempt is real) and to fail in the sandbox.
void HostileProbeTest::expect_every_way_out_closed(const std::map<std::string, Attempt>& report,
                                                   bool leaked_fd_configured) {
    auto outside_report = run_outside();
    ASSERT_FALSE(outside_report.empty());
    ASSERT_TRUE(fs::exists(host_tmp_file)) << "outside, the probe writes the host's /var/tmp";
    fs::remove(host_tmp_file);

    ASSERT_TRUE(report.count("end")) << "the probe ran to its end inside the sandbox";
    EXPECT_TRUE(report.at("uid").line == "uid 0 euid 0") << report.at("uid").line;

    // What worked outside, with each attempt's detail.
    const std::vector<std::string> escapes{
        "leaked-fds",         "inherited-fd",        "read-host-file",  "open-by-handle", "open-by-handle-inode-2",
        "write-core-pattern", "write-irq-affinity",  "read-timer-list", "mount",          "unshare-user-mount",
        "clone-newuser",      "setns-mnt",           "chroot-escape",   "mknod-block",    "connect-host-port",
        "kill-host-process",  "ptrace-host-process", "write-host-tmp"};
    for (const auto& name : escapes) {
        if (name == "inherited-fd" && !leaked_fd_configured) continue;
        ASSERT_TRUE(outside_report.count(name)) << name;
        EXPECT_TRUE(outside_report.at(name).ok) << "outside: " << outside_report.at(name).line;
        ASSERT_TRUE(report.count(name)) << name;
        if (name != "write-host-tmp") { // it writes the image's /var/tmp: the host's is checked below
            EXPECT_FALSE(report.at(name).ok) << "inside: " << report.at(name).line;
        }
    }
    EXPECT_FALSE(fs::exists(host_tmp_file))
        << "a postinst wrote the host's /var/tmp: " << report.at("write-host-tmp").line;
    for (const char* name : {"write-host-tmp-proc1", "write-host-tmp-dotdot"})
        EXPECT_FALSE(report.count(name) && report.at(name).ok && fs::exists(host_tmp_file)) << name;

    // /etc/shadow is the image's, never the host's.
    std::string host_shadow = hex_fnv(read_file("/etc/shadow"));
    EXPECT_NE(outside_report.at("read-shadow").line.find(host_shadow), std::string::npos)
        << outside_report.at("read-shadow").line;
    EXPECT_EQ(report.at("read-shadow").line.find(host_shadow), std::string::npos) << report.at("read-shadow").line;
    if (report.at("read-shadow").ok) {
        EXPECT_NE(report.at("read-shadow").line.find(hex_fnv(image_shadow)), std::string::npos)
            << "the image's /etc/shadow: " << report.at("read-shadow").line;
    }

    // The reasons: the filter, the read-only /proc, the namespaces.
    EXPECT_EQ(report.at("open-by-handle").error, "EPERM") << report.at("open-by-handle").line;
    EXPECT_EQ(report.at("write-core-pattern").error, "EROFS") << report.at("write-core-pattern").line;
    EXPECT_EQ(report.at("mount").error, "EPERM");
    EXPECT_EQ(report.at("clone-newuser").error, "EPERM");
    EXPECT_EQ(report.at("ptrace-host-process").error, "EPERM");
    EXPECT_EQ(report.at("kill-host-process").error, "ESRCH") << "host processes are not in the sandbox";
    if (leaked_fd_configured) {
        EXPECT_EQ(report.at("inherited-fd").error, "EBADF") << "the leaked descriptor was closed before bwrap";
    }
    EXPECT_EQ(report.at("clone3-newuser").error, "ENOSYS") << report.at("clone3-newuser").line;
#if defined(__x86_64__)
    EXPECT_FALSE(outside_report.at("abi-i386").ok && outside_report.at("abi-i386").error == "SIGSYS");
    EXPECT_EQ(report.at("abi-i386").error, "SIGSYS") << "another ABI kills: " << report.at("abi-i386").line;
#endif

    // Every call the filter denies: EPERM inside, something else (the kernel's own answer) outside.
    std::map<std::string, std::string> expected_inside{{"sys-clone3", "ENOSYS"},
                                                       {"sys-socket-packet", "EAFNOSUPPORT"},
                                                       {"sys-socket-alg", "EAFNOSUPPORT"},
                                                       {"sys-socket-vsock", "EAFNOSUPPORT"}};
    int calls = 0;
    for (const auto& [name, attempt] : report) {
        if (!name.starts_with("sys-")) continue;
        ++calls;
        if (name == "sys-personality-query") {
            EXPECT_TRUE(attempt.ok) << "asking for the persona is allowed: " << attempt.line;
            continue;
        }
        std::string expected = expected_inside.count(name) ? expected_inside[name] : "EPERM";
        EXPECT_EQ(attempt.error, expected) << "inside: " << attempt.line;
        ASSERT_TRUE(outside_report.count(name)) << name;
        const auto& there = outside_report.at(name);
        // ENOSYS (or EAFNOSUPPORT for a socket family) outside: this kernel lacks the call or the
        // family (no modules, no kexec, no AF_ALG), nothing to show there.
        if (there.error != "ENOSYS" && !(name.starts_with("sys-socket-") && there.error == "EAFNOSUPPORT")) {
            EXPECT_NE(there.error, expected) << "outside, the kernel itself answers: " << there.line;
        }
    }
    EXPECT_GE(calls, 40) << "the probe tried the filter's calls";
}

TEST_F(HostileProbeTest, AHostilePackagesPostinstFindsEveryWayOutClosed) {
    expect_every_way_out_closed(run_in_postinst(), true);
}

// The same probe as a recipe's postprocess script, through `imgbuild commit` on the fixture repository:
// the root the script sees is the rofiles-fuse view of the installed set (its files are the tree cache's).
TEST_F(HostileProbeTest, APostprocessScriptFindsEveryWayOutClosed) {
    std::string conf;
    for (const auto& [name, value] : settings)
        if (name != "PROBE_FD") conf += name + "=" + value + "\\n";
    fs::create_directories(dir.path() / "recipe");
    fs::copy_file(probe, dir.path() / "recipe/sandbox-probe");
    dir.write("recipe/probe.yaml",
              FixtureRecipe{.name = "probe",
                            .version = "1",
                            .packages = "base-files, app, linux-image-fixture",
                            .rest = "kernel: {package: linux-image-fixture}\ninitramfs: {enabled: false}\n"
                                    "ostree: {ref: probe/x86_64/node}\n"
                                    "files:\n  - {path: /etc/sandbox-probe.conf, content: \"" +
                                    conf + "\"}\npostprocess: [sandbox-probe]\n"}
                  .text());
    auto result = run_imgbuild(
        {"-vv", "--cache-dir", (dir.path() / "cache").string(), "commit", "recipe/probe.yaml", "--repo", "repo"},
        dir.path(), {{"SOURCE_DATE_EPOCH", "1700000000"}});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_NE(result.err.find(".view / "), std::string::npos) << "the script ran on the copy-on-write view";
    auto cat = [&](const std::string& path) {
        return run_command({"ostree", "--repo=" + (dir.path() / "repo").string(), "cat", "probe/x86_64/node", path});
    };
    auto shadow = cat("/usr/etc/shadow");
    image_shadow = shadow.exit_code == 0 ? shadow.out : "";
    auto report = cat("/usr/share/sandbox-probe/report");
    ASSERT_EQ(report.exit_code, 0) << report.err;
    fs::path report_file = dir.write("postprocess-report", report.out);
    expect_every_way_out_closed(read_report(report_file), false);
}
} // namespace
} // namespace imgbuild::test
