// How a run ends and how runs share an output directory, against the fixture repositories: a stop
// signal removes what the run made so far (exit 130/143), the next run removes what a killed run left
// (roots, a mounted copy-on-write view, partial builds, the disk in /dev/shm), and two builds into one
// bundle take turns (or the second fails at once with --no-wait). Building needs root.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "imgbuild/core/files.hpp"
#include "imgbuild/core/process.hpp"
#include "support/fixture_recipe.hpp"
#include "support/imgbuild_test.hpp"
#include "support/skip.hpp"

extern char** environ;

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;

// An imgbuild process in the background whose stderr is read line by line.
class Background {
public:
    Background(const std::vector<std::string>& args, const fs::path& cwd) {
        int pipe_fds[2];
        EXPECT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
        std::vector<std::string> argv{IMGBUILD_BINARY};
        argv.insert(argv.end(), args.begin(), args.end());
        std::vector<char*> raw;
        for (auto& arg : argv) raw.push_back(arg.data());
        raw.push_back(nullptr);
        EXPECT_EQ(posix_spawn(&m_pid, raw[0], &actions, nullptr, raw.data(), environ), 0);
        posix_spawn_file_actions_destroy(&actions);
        ::close(pipe_fds[1]);
        m_stderr = pipe_fds[0];
    }
    ~Background() {
        if (m_pid > 0) {
            ::kill(m_pid, SIGKILL);
            ::waitpid(m_pid, nullptr, 0);
        }
        if (m_stderr >= 0) ::close(m_stderr);
    }

    // Reads stderr until a line matches (true) or the process closes it (false).
    bool wait_for(const std::regex& line) {
        char buffer[4096];
        while (true) {
            for (auto newline = m_pending.find('\n'); newline != std::string::npos; newline = m_pending.find('\n')) {
                std::string text = m_pending.substr(0, newline);
                m_pending.erase(0, newline + 1);
                m_seen += text + "\n";
                if (std::regex_search(text, line)) return true;
            }
            ssize_t n = ::read(m_stderr, buffer, sizeof buffer);
            if (n <= 0) return false;
            m_pending.append(buffer, static_cast<std::size_t>(n));
        }
    }
    // The exit status (128 + signal for a process killed by one, as a shell reports it).
    int wait() {
        wait_for(std::regex("$^")); // drain stderr to its end
        int status = 0;
        ::waitpid(m_pid, &status, 0);
        m_pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    pid_t pid() const { return m_pid; }
    const std::string& seen() const { return m_seen; }

private:
    pid_t m_pid = -1;
    int m_stderr = -1;
    std::string m_pending, m_seen;
};

// A process id that no process has: a child that has exited and been reaped.
pid_t dead_pid() {
    pid_t pid = ::fork();
    if (pid == 0) _exit(0);
    ::waitpid(pid, nullptr, 0);
    return pid;
}

bool mounted_below(const fs::path& dir) {
    std::ifstream info("/proc/self/mountinfo");
    std::string base = fs::weakly_canonical(dir).string();
    for (std::string line; std::getline(info, line);)
        if (line.find(" " + base) != std::string::npos) return true;
    return false;
}

class LifecycleTest : public ImgbuildTest {
protected:
    LifecycleTest() : ImgbuildTest(fixed_date) {}
    void SetUp() override { IMGBUILD_SKIP_IF(unless_root("building a root needs root")); }
    fs::path recipe(const std::string& extra = "") {
        return dir.write("fx.yaml", FixtureRecipe{.name = "fixture-node",
                                                  .version = "1.{date}.{n}",
                                                  .packages = "base-files, app, linux-image-fixture",
                                                  .rest = "kernel: {package: linux-image-fixture}\n"
                                                          "initramfs: {enabled: false}\n"
                                                          "sysctl: {net.ipv4.ip_forward: 1}\n"
                                                          "ostree: {ref: fixture/x86_64/node}\n"
                                                          "image: {formats: [raw], size: 256MiB, platform: [qemu]}\n" +
                                                          extra}
                                        .text());
    }
    // Entries of `sub` (relative to the test's directory) other than `except`.
    std::vector<std::string> entries(const std::string& sub, const std::set<std::string>& except = {}) {
        std::vector<std::string> names;
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(dir.path() / sub, ec))
            if (!except.count(entry.path().filename().string())) names.push_back(entry.path().filename().string());
        return names;
    }
};

TEST_F(LifecycleTest, ASecondBuildIntoTheSameBundleFailsAtOnceWithNoWait) {
    recipe();
    fs::create_directories(dir.path() / "out");
    int fd = ::open((dir.path() / "out/.imgbuild.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX), 0);
    std::string pid = std::to_string(::getpid()) + "\n";
    ASSERT_EQ(::write(fd, pid.data(), pid.size()), static_cast<ssize_t>(pid.size()));
    auto started = std::chrono::steady_clock::now();
    auto result = imgbuild({"--no-wait", "build", "fx.yaml", "-o", "out"});
    EXPECT_EQ(result.exit_code, 1) << result.err;
    EXPECT_NE(result.err.find("imgbuild process " + std::to_string(::getpid()) + " is using it"), std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("--no-wait"), std::string::npos) << result.err;
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
    EXPECT_FALSE(fs::exists(dir.path() / "out/builds")) << "it built nothing";
    ::close(fd);
}

TEST_F(LifecycleTest, TwoBuildsIntoOneBundleTakeTurnsAndBothCommitsStay) {
    recipe();
    Background first(with_cache({"build", "fx.yaml", "-o", "out"}), dir.path());
    ASSERT_TRUE(first.wait_for(std::regex("resolv|lock|fetch|install"))) << first.seen();
    // The same recipe with another sysctl value: different inputs, so a commit of its own.
    auto second = imgbuild({"build", "fx.yaml", "-o", "out", "--set", "sysctl.net.ipv4.ip_forward=0"});
    EXPECT_EQ(first.wait(), 0) << first.seen();
    ASSERT_EQ(second.exit_code, 0) << second.err;
    EXPECT_NE(second.err.find("waiting for imgbuild process"), std::string::npos) << second.err;
    auto builds = entries("out/builds", {"latest"});
    std::sort(builds.begin(), builds.end());
    ASSERT_EQ(builds.size(), 2u) << "two builds, two versions";
    EXPECT_NE(builds[0], builds[1]);
    auto log = run_command({"ostree", "--repo=" + (dir.path() / "out/repo").string(), "log", "fixture/x86_64/node"});
    std::size_t commits = 0;
    for (auto at = log.out.find("commit "); at != std::string::npos; at = log.out.find("\ncommit ", at + 1)) ++commits;
    EXPECT_EQ(commits, 2u) << log.out;
}

TEST_F(LifecycleTest, SigtermRemovesWhatTheRunMadeSoFar) {
    recipe();
    Background run(with_cache({"-v", "build", "fx.yaml", "-o", "out"}), dir.path());
    // Stopped while the root is being made: a work directory and its partial root exist.
    ASSERT_TRUE(run.wait_for(std::regex("installed [0-9]+ packages|dpkg"))) << run.seen();
    ASSERT_FALSE(entries("cache/work").empty()) << "the run has a work directory to remove";
    ::kill(run.pid(), SIGTERM);
    EXPECT_EQ(run.wait(), 143) << run.seen();
    EXPECT_NE(run.seen().find("stopping"), std::string::npos) << run.seen();
    EXPECT_EQ(entries("cache/work"), std::vector<std::string>{}) << run.seen();
    EXPECT_EQ(entries("out/builds"), std::vector<std::string>{});
    EXPECT_FALSE(mounted_below(dir.path()));
    // And the next build is not troubled by it.
    auto again = imgbuild({"build", "fx.yaml", "-o", "out"});
    EXPECT_EQ(again.exit_code, 0) << again.err;
}

TEST_F(LifecycleTest, TheNextRunRemovesWhatAKilledRunLeft) {
    if (find_program("rofiles-fuse").empty()) GTEST_SKIP() << "skipped: no rofiles-fuse (Debian's ostree package)";
    recipe();
    pid_t gone = dead_pid();
    std::string tag = std::to_string(gone);
    // A root, its copy-on-write view still mounted, a partial build, a half-written cache file, a disk.
    dir.write("cache/work/fixture-node-" + tag + ".partial/usr/bin/tool", "x");
    fs::path view = dir.path() / ("cache/work/fixture-node-" + tag + ".partial.view");
    fs::create_directories(view);
    ASSERT_TRUE(run_process(ProcessOptions{{"rofiles-fuse", "--copyup",
                                            (dir.path() / ("cache/work/fixture-node-" + tag + ".partial")).string(),
                                            view.string()}})
                    .ok());
    ASSERT_TRUE(mounted_below(view));
    dir.write("out/builds/.1.20231114.0.partial-" + tag + "/disk.raw", "half an image");
    dir.write("cache/debs/.x.deb.tmp-" + tag + "-0123abcd", "half a package");
    fs::path disk = "/dev/shm/imgbuild-" + tag + "-disk.raw";
    bool shm = fs::is_directory("/dev/shm");
    if (shm) std::ofstream(disk) << "a disk";
    // Someone else's work (a live process: ours) stays.
    dir.write("cache/work/fixture-node-" + std::to_string(::getpid()) + "/keep", "x");

    auto result = imgbuild({"build", "fx.yaml", "-o", "out"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_NE(result.err.find("left by an interrupted imgbuild (process " + tag + ")"), std::string::npos)
        << result.err;
    EXPECT_FALSE(mounted_below(view)) << "the view is unmounted";
    EXPECT_EQ(entries("cache/work"), std::vector<std::string>{"fixture-node-" + std::to_string(::getpid())});
    EXPECT_EQ(entries("out/builds", {"latest"}).size(), 1u) << "only the new build";
    EXPECT_FALSE(fs::exists(dir.path() / ("cache/debs/.x.deb.tmp-" + tag + "-0123abcd")));
    if (shm) {
        EXPECT_FALSE(fs::exists(disk));
    }
}

} // namespace
} // namespace imgbuild::test
