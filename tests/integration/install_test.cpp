// imgbuild fetch and rootfs against the fixture repositories: real dpkg and librpm installs, scripts in
// the sandbox, owners and modes kept, and every failure named. Installing needs root.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "imgbuild/core/files.hpp"
#include "imgbuild/fetch/fetch.hpp"
#include "imgbuild/install/install.hpp"
#include "imgbuild/resolve/lock.hpp"
#include "install/deb.hpp"
#include "support/fixture_recipe.hpp"
#include "support/http_server.hpp"
#include "support/imgbuild_test.hpp"
#include "support/skip.hpp"

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path fixtures = IMGBUILD_FIXTURE_REPOS;

class InstallTest : public ImgbuildTest {
protected:
    void SetUp() override { IMGBUILD_SKIP_IF(unless_root("installing packages needs root")); }

    fs::path deb_recipe(const std::string& packages, const std::string& extra = "") {
        return dir.write("deb.yaml", FixtureRecipe{.packages = packages, .rest = extra}.text());
    }
    fs::path rpm_recipe(const std::string& packages, const std::string& key = "test.asc") {
        return dir.write("rpm.yaml",
                         FixtureRecipe{.format = "rpm", .repos = rpm_fixture_repo(key), .packages = packages}.text());
    }
    // These tests look at what the packages installed: rootfs stops there (--stage install).
    CommandResult imgbuild(std::vector<std::string> args) {
        if (args.front() == "rootfs") args.insert(args.end(), {"--stage", "install"});
        return ImgbuildTest::imgbuild(std::move(args));
    }
    static std::string owner(const fs::path& path) {
        struct stat info {};
        ::lstat(path.c_str(), &info);
        return std::to_string(info.st_uid) + ":" + std::to_string(info.st_gid);
    }
    static unsigned mode(const fs::path& path) {
        struct stat info {};
        ::lstat(path.c_str(), &info);
        return info.st_mode & 07777;
    }
    static std::set<std::string> dpkg_installed(const fs::path& root) {
        auto result = run_command(
            {"dpkg-query", "--admindir=" + (root / "var/lib/dpkg").string(), "-W", "-f=${Status} ${Package}\n"});
        std::set<std::string> names;
        std::istringstream lines(result.out);
        for (std::string line; std::getline(lines, line);)
            if (line.starts_with("install ok installed ")) names.insert(line.substr(21));
        return names;
    }
};

TEST_F(InstallTest, DebianRootRunsMaintainerScriptsAndKeepsOwnersAndModes) {
    auto result = imgbuild({"rootfs", deb_recipe("app, scripted, alt-user, awk-user").string(), "-o", "root"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    fs::path root = dir.path() / "root";
    // The database lists exactly the lock.
    ASSERT_EQ(imgbuild({"lock", "deb.yaml", "-o", "deb.lock.json"}).exit_code, 0);
    std::set<std::string> locked;
    for (const auto& package : resolve::read_lock(dir.path() / "deb.lock.json").packages) locked.insert(package.name);
    EXPECT_EQ(dpkg_installed(root), locked);
    // The postinst ran, and created its user.
    EXPECT_TRUE(fs::exists(root / "var/lib/fixture/postinst-ran"));
    EXPECT_NE(read_file(root / "etc/passwd").find("fixtured:"), std::string::npos);
    EXPECT_EQ(mode(root / "usr/bin/fixture-setuid"), 04755u);
    EXPECT_EQ(owner(root / "usr/share/fixture/owned-by-daemon"), "1:1");
    // Merged /usr, no build-time leftovers, nothing beside the result.
    EXPECT_EQ(fs::read_symlink(root / "bin"), "usr/bin");
    EXPECT_EQ(fs::read_symlink(root / "lib64"), "usr/lib64");
    EXPECT_FALSE(fs::exists(root / "usr/sbin/policy-rc.d"));
    EXPECT_FALSE(fs::exists(dir.path() / "root.partial"));

    auto again = imgbuild({"rootfs", "deb.yaml", "-o", "root"});
    EXPECT_EQ(again.exit_code, 2);
    EXPECT_NE(again.err.find("it exists and is not empty"), std::string::npos) << again.err;
}

TEST_F(InstallTest, FailingMaintainerScriptNamesThePackage) {
    auto result = imgbuild({"rootfs", deb_recipe("failing-postinst").string(), "-o", "root"});
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.err.find("Failed to install failing-postinst: dpkg exited with status 1"), std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("fixture: this postinst fails on purpose"), std::string::npos) << result.err;
    EXPECT_FALSE(fs::exists(dir.path() / "root"));
    EXPECT_FALSE(fs::exists(dir.path() / "root.partial"));
}

TEST_F(InstallTest, DebianFileConflictIsAnError) {
    auto result = imgbuild({"rootfs", deb_recipe("file-clash-a, file-clash-b").string(), "-o", "root"});
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.err.find("trying to overwrite '/usr/share/fixture/clash', which is also in package file-clash-"),
              std::string::npos)
        << result.err;
    EXPECT_FALSE(fs::exists(dir.path() / "root"));
}

TEST_F(InstallTest, DocsFalseLeavesOutDocumentation) {
    // dpkg's own filters: a documentation file is dropped, a license file stays.
    EXPECT_FALSE(install::kept_without_docs("/usr/share/doc/bash/README"));
    EXPECT_TRUE(install::kept_without_docs("/usr/share/doc/bash/copyright"));
    EXPECT_FALSE(install::kept_without_docs("/usr/share/man/man1/ls.1.gz"));
    EXPECT_FALSE(install::kept_without_docs("/usr/share/locale/de/LC_MESSAGES/dpkg.mo"));
    EXPECT_TRUE(install::kept_without_docs("/usr/share/locale/locale.alias"));
    EXPECT_TRUE(install::kept_without_docs("/usr/bin/dpkg"));
    auto result = imgbuild({"rootfs", deb_recipe("app", "docs: false\n").string(), "-o", "root"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
}

TEST_F(InstallTest, RpmRootRunsScriptletsAndKeepsOwnersAndModes) {
    auto result = imgbuild({"rootfs", rpm_recipe("app, scripted, rich-user, file-dep-user").string(), "-o", "root"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    fs::path root = dir.path() / "root";
    auto listed =
        run_command({"rpm", "--root", root.string(), "--dbpath", "/var/lib/rpm", "-qa", "--qf", "%{NAME}\\n"});
    std::set<std::string> names;
    std::istringstream lines(listed.out);
    for (std::string line; std::getline(lines, line);) names.insert(line);
    EXPECT_EQ(names, (std::set<std::string>{"app", "file-dep-user", "helper", "libfoo", "pkga", "rich-user", "scripted",
                                            "setup", "sh"}))
        << listed.err;
    EXPECT_TRUE(fs::exists(root / "var/lib/fixture/post-ran"));
    EXPECT_EQ(mode(root / "usr/bin/fixture-setuid"), 04755u);
    EXPECT_EQ(owner(root / "usr/share/fixture/owned-by-daemon"), "1:1");
}

TEST_F(InstallTest, FailingScriptletAndFileConflictAreNamed) {
    auto failing = imgbuild({"rootfs", rpm_recipe("failing-post").string(), "-o", "root"});
    EXPECT_EQ(failing.exit_code, 1);
    EXPECT_NE(failing.err.find("%post of package failing-post failed"), std::string::npos) << failing.err;
    EXPECT_NE(failing.err.find("fixture: this %post fails on purpose"), std::string::npos) << failing.err;

    auto clash = imgbuild({"rootfs", rpm_recipe("file-clash-a, file-clash-b").string(), "-o", "root"});
    EXPECT_EQ(clash.exit_code, 1);
    EXPECT_NE(clash.err.find("file /usr/share/fixture/clash conflicts between attempted installs of file-clash-"),
              std::string::npos)
        << clash.err;
    EXPECT_FALSE(fs::exists(dir.path() / "root"));
}

TEST_F(InstallTest, RpmPackagesMustBeSignedByTheRecipesKey) {
    ASSERT_EQ(imgbuild({"lock", rpm_recipe("libfoo").string(), "-o", "rpm.lock.json"}).exit_code, 0);
    ASSERT_EQ(imgbuild({"fetch", "rpm.lock.json"}).exit_code, 0);
    auto lock = resolve::read_lock(dir.path() / "rpm.lock.json");
    std::vector<fs::path> files;
    for (const auto& package : lock.packages) files.push_back(fetch::cached_package(dir.path() / "cache", package));
    fs::create_directories(dir.path() / "root");
    install::InstallOptions options;
    options.rpm_keys = {fixtures / "keys/other.asc"};
    options.rpm_require_signatures = true;
    options.helper = IMGBUILD_BINARY;
    try {
        install::install(lock, files, dir.path() / "root", options);
        FAIL() << "a package signed by another key was installed";
    } catch (const install::InstallError& e) {
        EXPECT_NE(std::string(e.what()).find("package libfoo is not signed by a key of the recipe's repos"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_FALSE(fs::exists(dir.path() / "root/var/lib/rpm/rpmdb.sqlite"));
}

TEST_F(InstallTest, PackagesNotMatchingTheLockAreRefused) {
    ASSERT_EQ(imgbuild({"lock", deb_recipe("app").string(), "-o", "deb.lock.json"}).exit_code, 0);
    // A lock whose checksum the repo's file does not have: refused, nothing cached under its name.
    auto document = json::parse(read_file(dir.path() / "deb.lock.json"));
    for (auto& package : document.at("packages"))
        if (package.at("name") == "libfoo") package["checksum"] = "sha256:" + std::string(64, 'a');
    dir.write("tampered.lock.json", document.dump(2));
    auto fetched = imgbuild({"fetch", "tampered.lock.json"});
    EXPECT_EQ(fetched.exit_code, 1);
    EXPECT_NE(fetched.err.find("Failed to download package libfoo 2.0"), std::string::npos) << fetched.err;
    EXPECT_NE(fetched.err.find("its sha256 is"), std::string::npos) << fetched.err;
    EXPECT_FALSE(fs::exists(dir.path() / "cache/packages" / (std::string(64, 'a') + "-libfoo_2.0_amd64.deb")));

    // A recipe locked to it installs nothing.
    dir.write("locked.yaml", read_file(dir.path() / "deb.yaml") + "lock: tampered.lock.json\n");
    auto installed = imgbuild({"rootfs", "locked.yaml", "-o", "root"});
    EXPECT_EQ(installed.exit_code, 2);
    EXPECT_NE(installed.err.find("libfoo 2.0 (amd64) from repo 'fixture'"), std::string::npos) << installed.err;
    EXPECT_FALSE(fs::exists(dir.path() / "root"));

    // A cached file damaged after it was verified is discarded and fetched again.
    ASSERT_EQ(imgbuild({"fetch", "deb.lock.json"}).exit_code, 0);
    for (const auto& entry : fs::directory_iterator(dir.path() / "cache/packages"))
        if (entry.path().filename().string().ends_with("libfoo_2.0_amd64.deb")) {
            std::fstream stream(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
            stream.seekp(100);
            stream.put('\x42');
        }
    auto healed = imgbuild({"fetch", "deb.lock.json"});
    ASSERT_EQ(healed.exit_code, 0) << healed.err;
    EXPECT_NE(healed.err.find("discarding the cached libfoo 2.0"), std::string::npos) << healed.err;
    EXPECT_NE(healed.err.find("1 downloaded"), std::string::npos) << healed.err;
}

// Kills `imgbuild` once `ready` says the interesting part has begun.
int run_and_kill(const std::vector<std::string>& args, const fs::path& cwd, const std::function<bool()>& ready) {
    pid_t pid = ::fork();
    if (pid == 0) {
        ::chdir(cwd.c_str());
        std::vector<char*> argv{const_cast<char*>(IMGBUILD_BINARY)};
        for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
        argv.push_back(nullptr);
        int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1), ::dup2(null, 2);
        ::execv(IMGBUILD_BINARY, argv.data());
        _exit(127);
    }
    for (int i = 0; i < 600 && !ready(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
}

TEST_F(InstallTest, InterruptedFetchAndInstallComplete) {
    // A fetch killed in the middle of a (slow) download: the next one resumes and completes.
    HttpServer server;
    std::string body = read_file(fixtures / "rpm/app-1.0-1.noarch.rpm");
    server.add("/app.rpm", {body, "", 0, true, 200, body.size() / 2});
    resolve::Lock lock;
    lock.format = "rpm";
    lock.arch = "x86_64";
    lock.packages.push_back({"app", "1.0-1", 0, "1.0", "1", "noarch", "fx", server.url("/app.rpm"),
                             checksum_file(fixtures / "rpm/app-1.0-1.noarch.rpm", DigestType::sha256), body.size(), 0});
    resolve::write_lock(lock, dir.path() / "slow.lock.json");
    fs::path final_name = dir.path() / "cache/packages" / (lock.packages[0].checksum.hex + "-app.rpm");
    fs::path part = fs::path(final_name.string() + ".part");
    run_and_kill(with_cache({"fetch", "slow.lock.json"}), dir.path(), [&] {
        std::error_code ec;
        return fs::exists(part, ec) && fs::file_size(part, ec) > 0;
    });
    EXPECT_FALSE(fs::exists(final_name)) << "a killed download left a file under its final name";
    server.add("/app.rpm", {body});
    auto resumed = imgbuild({"fetch", "slow.lock.json"});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    EXPECT_EQ(checksum_file(final_name, DigestType::sha256), lock.packages[0].checksum);
    EXPECT_TRUE(server.last_range("/app.rpm").starts_with("bytes=")) << "the second fetch resumed the first one";

    // An install killed while dpkg runs: nothing under the final name; the next run starts over and completes.
    auto recipe = deb_recipe("app, scripted");
    ASSERT_EQ(imgbuild({"fetch", recipe.string()}).exit_code, 0);
    run_and_kill(with_cache({"rootfs", recipe.string(), "-o", "root", "--stage", "install"}), dir.path(), [&] {
        std::error_code ec;
        return fs::exists(dir.path() / "root.partial/usr/bin/dpkg", ec);
    });
    EXPECT_FALSE(fs::exists(dir.path() / "root"));
    auto completed = imgbuild({"rootfs", recipe.string(), "-o", "root"});
    ASSERT_EQ(completed.exit_code, 0) << completed.err;
    EXPECT_TRUE(fs::exists(dir.path() / "root/var/lib/fixture/postinst-ran"));
    EXPECT_FALSE(fs::exists(dir.path() / "root.partial"));
}

} // namespace
} // namespace imgbuild::test
