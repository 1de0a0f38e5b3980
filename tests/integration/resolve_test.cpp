// imgbuild lock against the fixture repositories (tests/fixtures/make-repos.sh): real Debian and rpm-md
// repos, signed with a throwaway key, built at test time. Offline, through the imgbuild binary.

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/recipe/recipe.hpp"
#include "imgbuild/resolve/resolve.hpp"
#include "support/fixture_recipe.hpp"
#include "support/http_server.hpp"
#include "support/imgbuild_test.hpp"

namespace imgbuild::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path fixtures = IMGBUILD_FIXTURE_REPOS;

std::string deb_repo(const std::string& name = "fixture", const std::string& suite = "fixture",
                     const std::string& extra = "", const fs::path& root = fixtures / "deb",
                     const std::string& keyring = "test.gpg") {
    return "  - {name: " + name + ", type: deb, url: 'file://" + root.string() + "', suite: " + suite +
           ", components: [main], keyring: " + (fixtures / "keys" / keyring).string() + extra + "}\n";
}

class ResolveTest : public ImgbuildTest {
protected:
    fs::path recipe(const std::string& format, const std::string& repos, const std::string& rest,
                    const char* file = "r.yaml") {
        return dir.write(file, FixtureRecipe{.format = format, .repos = repos, .rest = rest}.text());
    }

    CommandResult lock(const fs::path& recipe_path, std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"lock", recipe_path.string()};
        args.insert(args.end(), extra.begin(), extra.end());
        return imgbuild(args);
    }

    static json read_json(const fs::path& path) {
        std::ifstream stream(path);
        return json::parse(stream);
    }

    static std::map<std::string, std::string> versions(const json& lock) {
        std::map<std::string, std::string> result;
        for (const auto& package : lock.at("packages")) result[package.at("name")] = package.at("version");
        return result;
    }

    fs::path copy_repo(const std::string& what) {
        fs::path copy = dir.path() / ("copy-" + what);
        fs::copy(fixtures / what, copy, fs::copy_options::recursive);
        return copy;
    }
};

TEST_F(ResolveTest, DebianSetMatchesAptsChoices) {
    auto path = recipe("deb", deb_repo(), "packages: [app, alt-user, awk-user, kernel-fixture, dracut]\n");
    auto result = lock(path);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, (dir.path() / "r.lock.json").string() + "\n");
    auto lock_json = read_json(dir.path() / "r.lock.json");
    auto set = versions(lock_json);
    // Essential packages and Pre-Depends come in; apt's picks: the first alternative (pref-b), the
    // Priority: required provider of awk (mawk), libfoo >= 2.0, and dracut (asked for) over initramfs-tools.
    EXPECT_EQ(set, (std::map<std::string, std::string>{{"alt-user", "1.0"},
                                                       {"app", "1.0"},
                                                       {"awk-user", "1.0"},
                                                       {"base-files", "1.0"},
                                                       {"dash", "1.0"},
                                                       {"dpkg", "1.0"},
                                                       {"dracut", "1.0"},
                                                       {"kernel-fixture", "1.0"},
                                                       {"libc-fixture", "1.0"},
                                                       {"libfoo", "2.0"},
                                                       {"mawk", "1.0"},
                                                       {"pref-b", "1.0"}}));
    EXPECT_EQ(lock_json.at("source-date-epoch"), 1700000000); // the Release's Date
    EXPECT_EQ(lock_json.at("format"), "deb");
    for (const auto& package : lock_json.at("packages")) {
        EXPECT_TRUE(package.at("checksum").get<std::string>().starts_with("sha256:"));
        EXPECT_GT(package.at("size").get<int>(), 0) << package.dump();
        EXPECT_TRUE(package.at("url").get<std::string>().starts_with("file://" + (fixtures / "deb/pool/").string()));
        EXPECT_TRUE(fs::exists(package.at("url").get<std::string>().substr(7)));
    }
    auto dash = std::find_if(lock_json.at("packages").begin(), lock_json.at("packages").end(),
                             [](const json& p) { return p.at("name") == "dash"; });
    EXPECT_EQ(dash->value("essential", false), true);
    EXPECT_EQ(dash->value("priority", ""), "required");
    EXPECT_EQ(lock_json.at("repos")[0].at("metadata").size(), 2u); // InRelease and Packages.xz

    // The same inputs give the same bytes, from the warm cache.
    std::ifstream first(dir.path() / "r.lock.json");
    std::stringstream before;
    before << first.rdbuf();
    ASSERT_EQ(lock(path, {"-o", "again.json"}).exit_code, 0);
    std::ifstream second(dir.path() / "again.json");
    std::stringstream after;
    after << second.rdbuf();
    EXPECT_EQ(before.str(), after.str());
}

TEST_F(ResolveTest, WeakDependenciesOnlyWhenAsked) {
    ASSERT_EQ(lock(recipe("deb", deb_repo(), "packages: [app]\n")).exit_code, 0);
    EXPECT_FALSE(versions(read_json(dir.path() / "r.lock.json")).count("app-extras"));
    ASSERT_EQ(lock(recipe("deb", deb_repo(), "packages: [app]\nweak-deps: true\n")).exit_code, 0);
    EXPECT_TRUE(versions(read_json(dir.path() / "r.lock.json")).count("app-extras"));
}

TEST_F(ResolveTest, PreferOverridesAptsChoice) {
    ASSERT_EQ(lock(recipe("deb", deb_repo(), "packages: [alt-user, awk-user]\nprefer: [pref-a, gawk]\n")).exit_code, 0);
    auto set = versions(read_json(dir.path() / "r.lock.json"));
    EXPECT_TRUE(set.count("pref-a") && set.count("gawk"));
    EXPECT_FALSE(set.count("pref-b") || set.count("mawk"));
}

TEST_F(ResolveTest, HigherPriorityRepoWins) {
    std::string both = deb_repo() + deb_repo("updates", "fixture-updates");
    ASSERT_EQ(lock(recipe("deb", both, "packages: [app]\n")).exit_code, 0);
    auto lock_json = read_json(dir.path() / "r.lock.json");
    EXPECT_EQ(versions(lock_json)["libfoo"], "3.0"); // same priority: the highest version
    EXPECT_EQ(lock_json.at("repos").size(), 2u);

    std::string pinned = deb_repo() + deb_repo("updates", "fixture-updates", ", priority: 100");
    ASSERT_EQ(lock(recipe("deb", pinned, "packages: [app]\n")).exit_code, 0);
    EXPECT_EQ(versions(read_json(dir.path() / "r.lock.json"))["libfoo"], "2.0");
}

// include-packages with a higher priority pins a package to one repo (as debian12-node.yaml pins the
// kernel to bullseye-security): only the named package comes from it, whatever else it offers.
TEST_F(ResolveTest, IncludePackagesPinsOnlyWhatItNames) {
    std::string repos = deb_repo() + deb_repo("updates", "fixture-updates") +
                        deb_repo("pin", "fixture", ", priority: 600, include-packages: [libfoo]");
    ASSERT_EQ(lock(recipe("deb", repos, "packages: [app]\n")).exit_code, 0);
    auto lock_json = read_json(dir.path() / "r.lock.json");
    EXPECT_EQ(versions(lock_json)["libfoo"], "2.0"); // the pinned repo's best, not fixture-updates' 3.0
    for (const auto& package : lock_json.at("packages"))
        EXPECT_EQ(package.at("repo") == "pin", package.at("name") == "libfoo") << package.dump();
    EXPECT_EQ(lock_json.at("repos").at(2).at("include-packages"), json::array({"libfoo"}));

    // A glob keeps every package it matches; one that matches nothing is an error at its place.
    std::string globbed =
        deb_repo() + deb_repo("pin", "fixture-updates", ", priority: 600, include-packages: [libf*, nope-*]");
    auto result = lock(recipe("deb", globbed, "packages: [app]\n"));
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_NE(result.err.find("r.yaml:5:"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("include-packages: 'nope-*' matches no package of repo 'pin'"), std::string::npos)
        << result.err;
    EXPECT_EQ(result.err.find("'libf*'"), std::string::npos) << result.err;
    EXPECT_EQ(read_json(dir.path() / "r.lock.json"), lock_json); // the failed lock wrote nothing
}

TEST_F(ResolveTest, RpmMdInEveryCompressionWithRichAndFileDependencies) {
    for (const char* repo : {"rpm", "rpm-xz", "rpm-zstd"}) {
        auto result =
            lock(recipe("rpm", rpm_fixture_repo("test.asc", repo), "packages: [app, rich-user, file-dep-user]\n"));
        ASSERT_EQ(result.exit_code, 0) << repo << ": " << result.err;
        auto lock_json = read_json(dir.path() / "r.lock.json");
        auto set = versions(lock_json);
        EXPECT_EQ(set["libfoo"], "2.0-1") << repo;
        EXPECT_TRUE(set.count("pkga") || set.count("pkgb")) << repo; // (pkga or pkgb)
        EXPECT_TRUE(set.count("helper")) << repo;                    // /usr/libexec/fixture/helper, in filelists only
        EXPECT_TRUE(set.count("sh")) << repo;                        // /bin/sh for helper's script
        const auto& app = *std::find_if(lock_json.at("packages").begin(), lock_json.at("packages").end(),
                                        [](const json& p) { return p.at("name") == "app"; });
        EXPECT_EQ(app.at("epoch"), 0);
        EXPECT_EQ(app.at("upstream-version"), "1.0");
        EXPECT_EQ(app.at("release"), "1");
        EXPECT_EQ(app.at("arch"), "noarch");
    }
}

TEST_F(ResolveTest, VersionConstraintsAndGlobs) {
    // Debian's "name=version" and libsolv's "name < version" both select a version.
    ASSERT_EQ(lock(recipe("deb", deb_repo(), "packages: [libfoo=1.0]\n")).exit_code, 0);
    EXPECT_EQ(versions(read_json(dir.path() / "r.lock.json"))["libfoo"], "1.0");
    ASSERT_EQ(lock(recipe("deb", deb_repo() + deb_repo("updates", "fixture-updates"), "packages: ['libfoo << 3']\n"))
                  .exit_code,
              0);
    EXPECT_EQ(versions(read_json(dir.path() / "r.lock.json"))["libfoo"], "2.0");
    // A glob installs one package of those it matches (a kernel whose ABI is in its name).
    ASSERT_EQ(lock(recipe("deb", deb_repo(), "packages: ['pref-*']\n")).exit_code, 0);
    auto set = versions(read_json(dir.path() / "r.lock.json"));
    EXPECT_EQ(set.count("pref-a") + set.count("pref-b"), 1u);
}

TEST_F(ResolveTest, UnsatisfiableSetsSayWhyAndWhereAndExitWithTwo) {
    auto conflict = lock(recipe("deb", deb_repo(), "packages:\n  - conflict-a\n  - conflict-b\n"));
    EXPECT_EQ(conflict.exit_code, 2);
    EXPECT_NE(conflict.err.find("conflict"), std::string::npos) << conflict.err;
    EXPECT_NE(conflict.err.find("'conflict-b' at r.yaml:7:5"), std::string::npos) << conflict.err;
    EXPECT_FALSE(fs::exists(dir.path() / "r.lock.json"));

    auto broken = lock(recipe("deb", deb_repo(), "packages: [broken-dep]\n"));
    EXPECT_EQ(broken.exit_code, 2);
    EXPECT_NE(broken.err.find("nothing provides does-not-exist needed by broken-dep"), std::string::npos) << broken.err;
    EXPECT_NE(broken.err.find("solution 1:"), std::string::npos) << broken.err;

    auto excluded = lock(recipe("deb", deb_repo(), "packages: [app]\nexclude: [libfoo]\n"));
    EXPECT_EQ(excluded.exit_code, 2);
    EXPECT_NE(excluded.err.find("libfoo"), std::string::npos) << excluded.err;
    EXPECT_NE(excluded.err.find("exclude 'libfoo' at r.yaml:6:11"), std::string::npos) << excluded.err;
}

TEST_F(ResolveTest, UnknownPackagesAreNamedWithSuggestions) {
    auto result = lock(recipe("deb", deb_repo(), "packages: [app, appp, mawk >= 9]\n"));
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.err.find("r.yaml:5:17: no repo has a package 'appp' (did you mean 'app'?)"), std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("r.yaml:5:23: no repo has a package 'mawk >= 9' (the repos have mawk 1.0)"),
              std::string::npos)
        << result.err;
}

TEST_F(ResolveTest, BadSignatureIsRefusedAndNothingIsWritten) {
    auto result =
        lock(recipe("deb", deb_repo("fixture", "fixture", "", fixtures / "deb", "other.gpg"), "packages: [app]\n"));
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.err.find("Failed to verify repo 'fixture' InRelease: no good signature by a key in"),
              std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("while reading the metadata of repo 'fixture' (r.yaml:4:5)"), std::string::npos)
        << result.err;
    EXPECT_FALSE(fs::exists(dir.path() / "r.lock.json"));

    auto rpm = lock(recipe("rpm", rpm_fixture_repo("other.asc"), "packages: [app]\n"));
    EXPECT_EQ(rpm.exit_code, 1);
    EXPECT_NE(rpm.err.find("Failed to verify repo 'fx' repomd.xml: no good signature"), std::string::npos) << rpm.err;
}

TEST_F(ResolveTest, WrongChecksumOrTruncatedMetadataIsRefused) {
    // A package list that is not the one InRelease signed for (same size, one byte flipped).
    fs::path copy = copy_repo("deb");
    fs::path list = copy / "dists/fixture/main/binary-amd64/Packages.xz";
    {
        std::fstream stream(list, std::ios::in | std::ios::out | std::ios::binary);
        stream.seekp(40);
        stream.put('\x42');
    }
    auto flipped = lock(recipe("deb", deb_repo("fixture", "fixture", "", copy), "packages: [app]\n"));
    EXPECT_EQ(flipped.exit_code, 1);
    EXPECT_NE(flipped.err.find("Failed to download repo 'fixture' Packages.xz"), std::string::npos) << flipped.err;
    EXPECT_NE(flipped.err.find("its sha256 is"), std::string::npos) << flipped.err;
    EXPECT_FALSE(fs::exists(dir.path() / "r.lock.json"));

    // A truncated list: shorter than InRelease says.
    fs::resize_file(list, fs::file_size(list) / 2);
    auto truncated = lock(recipe("deb", deb_repo("fixture", "fixture", "", copy), "packages: [app]\n"));
    EXPECT_EQ(truncated.exit_code, 1);
    EXPECT_NE(truncated.err.find("bytes, the metadata gives"), std::string::npos) << truncated.err;

    // A truncated InRelease: no longer a signed document.
    fs::path index = copy / "dists/fixture/InRelease";
    fs::resize_file(index, fs::file_size(index) / 2);
    auto cut = lock(recipe("deb", deb_repo("fixture", "fixture", "", copy), "packages: [app]\n"));
    EXPECT_EQ(cut.exit_code, 1);
    EXPECT_NE(cut.err.find("Failed to verify repo 'fixture' InRelease"), std::string::npos) << cut.err;
    // Nothing damaged is left in the cache under a final name.
    for (const auto& entry : fs::recursive_directory_iterator(dir.path() / "cache"))
        EXPECT_FALSE(entry.path().filename().string().ends_with(".part")) << entry.path();
}

TEST_F(ResolveTest, UnreachableRepoIsNamed) {
    auto missing =
        lock(recipe("deb", deb_repo("gone", "fixture", "", dir.path() / "no-such-repo"), "packages: [app]\n"));
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("Failed to download repo 'gone' InRelease from 'file://"), std::string::npos)
        << missing.err;

    auto refused =
        lock(recipe("deb", "  - {name: closed, type: deb, url: 'http://127.0.0.1:9/debian', suite: fixture}\n",
                    "packages: [app]\n"));
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.err.find(
                  "Failed to download repo 'closed' Release from 'http://127.0.0.1:9/debian/dists/fixture/Release'"),
              std::string::npos)
        << refused.err;
    EXPECT_NE(refused.err.find("retrying"), std::string::npos) << "transient failures are retried";
    EXPECT_NE(refused.err.find("has no keyring: its metadata is not verified"), std::string::npos) << refused.err;
}

TEST_F(ResolveTest, OfflineUsesTheCacheOnly) {
    auto path = recipe("deb", deb_repo(), "packages: [app]\n");
    auto cold =
        run_imgbuild({"--cache-dir", (dir.path() / "empty").string(), "--offline", "lock", path.string()}, dir.path());
    EXPECT_EQ(cold.exit_code, 1);
    EXPECT_NE(cold.err.find("is not in the cache"), std::string::npos) << cold.err;
    EXPECT_NE(cold.err.find("run once without --offline"), std::string::npos) << cold.err;

    ASSERT_EQ(lock(path).exit_code, 0);
    auto warm = lock(path, {"--offline", "-o", "offline.json"});
    ASSERT_EQ(warm.exit_code, 0) << warm.err;
    EXPECT_EQ(read_json(dir.path() / "offline.json"), read_json(dir.path() / "r.lock.json"));
}

TEST_F(ResolveTest, UpdateMovesOnlyTheNamedPackages) {
    ASSERT_EQ(lock(recipe("deb", deb_repo(), "packages: [app, mawk]\n"), {"-o", "app.lock.json"}).exit_code, 0);
    EXPECT_EQ(versions(read_json(dir.path() / "app.lock.json"))["libfoo"], "2.0");

    // libfoo 3.0 appears; updating something else keeps libfoo as locked.
    auto with_updates = recipe("deb", deb_repo() + deb_repo("updates", "fixture-updates"), "packages: [app, mawk]\n");
    auto other = lock(with_updates, {"-o", "app.lock.json", "--update", "mawk"});
    ASSERT_EQ(other.exit_code, 0) << other.err;
    EXPECT_EQ(versions(read_json(dir.path() / "app.lock.json"))["libfoo"], "2.0");
    EXPECT_NE(other.err.find("no package changed"), std::string::npos) << other.err;

    auto libfoo = lock(with_updates, {"-o", "app.lock.json", "--update", "libfoo"});
    ASSERT_EQ(libfoo.exit_code, 0) << libfoo.err;
    EXPECT_EQ(versions(read_json(dir.path() / "app.lock.json"))["libfoo"], "3.0");
    EXPECT_NE(libfoo.err.find("upgraded    libfoo 2.0 → 3.0 (amd64)"), std::string::npos) << libfoo.err;

    auto unknown = lock(with_updates, {"-o", "app.lock.json", "--update", "nonesuch"});
    EXPECT_EQ(unknown.exit_code, 2);
    EXPECT_NE(unknown.err.find("cannot update 'nonesuch': it is not in the lock"), std::string::npos) << unknown.err;
}

TEST_F(ResolveTest, DiffShowsWhatChanged) {
    ASSERT_EQ(lock(recipe("deb", deb_repo(), "packages: [app, alt-user]\n"), {"-o", "old.json"}).exit_code, 0);
    ASSERT_EQ(lock(recipe("deb", deb_repo() + deb_repo("updates", "fixture-updates"), "packages: [app, awk-user]\n"),
                   {"-o", "new.json"})
                  .exit_code,
              0);
    auto diff = run_imgbuild({"diff", "old.json", "new.json"}, dir.path());
    ASSERT_EQ(diff.exit_code, 0) << diff.err;
    EXPECT_EQ(diff.out, "added       awk-user 1.0 (amd64)\n"
                        "added       mawk 1.0 (amd64)\n"
                        "removed     alt-user 1.0 (amd64)\n"
                        "removed     pref-b 1.0 (amd64)\n"
                        "upgraded    libfoo 2.0 → 3.0 (amd64)\n");
    auto as_json = run_imgbuild({"diff", "--json", "old.json", "new.json"}, dir.path());
    EXPECT_EQ(json::parse(as_json.out).at("upgraded")[0].at("new"), "3.0");

    dir.write("bad.json", "{\n  \"lock-version\": 1,\n  \"packages\": [}\n");
    auto bad = run_imgbuild({"diff", "old.json", "bad.json"}, dir.path());
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("bad.json:3:16: invalid JSON: syntax error"), std::string::npos) << bad.err;
}

// Replayed metadata (apt's check-valid-until): an InRelease past its Valid-Until is refused, naming
// the repo, the date and the option that allows it; so is the cached one offline.
TEST_F(ResolveTest, AnExpiredInReleaseIsRefusedUnlessCheckValidUntilIsOff) {
    auto expired = lock(recipe("deb", deb_repo("fixture", "fixture-expired"), "packages: [app]\n"));
    EXPECT_EQ(expired.exit_code, 1);
    EXPECT_NE(expired.err.find("Failed to use repo 'fixture' InRelease: it expired on 2023-11-21 22:13:20 UTC (its "
                               "Valid-Until)"),
              std::string::npos)
        << expired.err;
    EXPECT_NE(expired.err.find("set 'check-valid-until: false' on the repo"), std::string::npos) << expired.err;
    EXPECT_NE(expired.err.find("while reading the metadata of repo 'fixture' (r.yaml:4:5)"), std::string::npos)
        << expired.err;
    EXPECT_FALSE(fs::exists(dir.path() / "r.lock.json"));

    // A snapshot mirror's: allowed by the repo's option, with the same set as the current suite's.
    auto allowed =
        lock(recipe("deb", deb_repo("fixture", "fixture-expired", ", check-valid-until: false"), "packages: [app]\n"));
    ASSERT_EQ(allowed.exit_code, 0) << allowed.err;
    auto snapshot = versions(read_json(dir.path() / "r.lock.json"));
    ASSERT_EQ(lock(recipe("deb", deb_repo(), "packages: [app]\n"), {"-o", "current.json"}).exit_code, 0);
    EXPECT_EQ(snapshot, versions(read_json(dir.path() / "current.json")));

    // Offline, the cached index meets the same check.
    auto offline = lock(recipe("deb", deb_repo("fixture", "fixture-expired"), "packages: [app]\n"), {"--offline"});
    EXPECT_EQ(offline.exit_code, 1);
    EXPECT_NE(offline.err.find("it expired on 2023-11-21 22:13:20 UTC"), std::string::npos) << offline.err;

    // Valid until 2100: accepted.
    auto valid = lock(recipe("deb", deb_repo("fixture", "fixture-valid"), "packages: [app]\n"));
    EXPECT_EQ(valid.exit_code, 0) << valid.err;
}

// A repo that goes back to an index older than the one verified before (a mirror replaying old
// metadata to hide updates) is refused, online and offline; check-valid-until: false allows it.
TEST_F(ResolveTest, AnIndexOlderThanTheLastVerifiedIsARollback) {
    HttpServer server;
    auto serve_deb = [&](const std::string& suite) {
        server.add("/deb/dists/fixture/InRelease", {read_file(fixtures / "deb/dists" / suite / "InRelease")});
    };
    server.add("/deb/dists/fixture/main/binary-amd64/Packages.xz",
               {read_file(fixtures / "deb/dists/fixture/main/binary-amd64/Packages.xz")});
    std::string repo = "  - {name: mirror, type: deb, url: '" + server.url("/deb") +
                       "', suite: fixture, keyring: " + (fixtures / "keys/test.gpg").string();
    auto path = recipe("deb", repo + "}\n", "packages: [app]\n");
    serve_deb("fixture-newer");
    auto newer = lock(path);
    ASSERT_EQ(newer.exit_code, 0) << newer.err;

    serve_deb("fixture");
    auto older = lock(path, {"-o", "older.json"});
    EXPECT_EQ(older.exit_code, 1);
    EXPECT_NE(older.err.find("Failed to use repo 'mirror' InRelease: it was made on 2023-11-14 22:13:20 UTC, before "
                             "the one verified earlier (2023-11-15 22:13:20 UTC): the repo went back to older "
                             "metadata (a rollback)"),
              std::string::npos)
        << older.err;
    EXPECT_NE(older.err.find("check-valid-until: false"), std::string::npos) << older.err;
    EXPECT_FALSE(fs::exists(dir.path() / "older.json"));
    auto offline = lock(path, {"--offline", "-o", "older.json"});
    EXPECT_EQ(offline.exit_code, 1);
    EXPECT_NE(offline.err.find("a rollback"), std::string::npos) << offline.err;

    auto allowed = lock(recipe("deb", repo + ", check-valid-until: false}\n", "packages: [app]\n"));
    EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
    EXPECT_NE(allowed.err.find("before the one verified earlier"), std::string::npos) << allowed.err;

    // rpm-md: repomd.xml's newest timestamp, the same way.
    auto serve_rpm = [&](const std::string& name) {
        for (const auto& entry : fs::directory_iterator(fixtures / name / "repodata"))
            server.add("/rpm/repodata/" + entry.path().filename().string(), {read_file(entry.path())});
    };
    serve_rpm("rpm");
    serve_rpm("rpm-newer"); // its repomd.xml and .asc replace rpm's
    std::string rpm = "  - {name: fx, type: rpm-md, url: '" + server.url("/rpm") +
                      "', gpgkey: " + (fixtures / "keys/test.asc").string() + "}\n";
    ASSERT_EQ(lock(recipe("rpm", rpm, "packages: [app]\n")).exit_code, 0);
    serve_rpm("rpm");
    auto rolled = lock(recipe("rpm", rpm, "packages: [app]\n"));
    EXPECT_EQ(rolled.exit_code, 1);
    EXPECT_NE(rolled.err.find("Failed to use repo 'fx' repomd.xml: it was made on 2023-11-14 22:13:20 UTC, before the "
                              "one verified earlier (2023-11-15 22:13:20 UTC)"),
              std::string::npos)
        << rolled.err;
}

// rpm-md repositories say nothing about how long their metadata is good for: a repo's
// metadata-expire (dnf's forms) bounds the age of repomd.xml's newest timestamp.
TEST_F(ResolveTest, MetadataExpireBoundsTheAgeOfAnIndex) {
    auto stale = lock(recipe("rpm", rpm_fixture_repo("test.asc", "rpm", ", metadata-expire: 7d"), "packages: [app]\n"));
    EXPECT_EQ(stale.exit_code, 1);
    EXPECT_NE(stale.err.find("Failed to use repo 'fx' repomd.xml: it was made on 2023-11-14 22:13:20 UTC, longer ago "
                             "than the repo's metadata-expire (604800 seconds) allows"),
              std::string::npos)
        << stale.err;
    auto allowed =
        lock(recipe("rpm", rpm_fixture_repo("test.asc", "rpm", ", metadata-expire: 7d, check-valid-until: false"),
                    "packages: [app]\n"));
    EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
    // A Debian repo's Date, the same way; a long enough limit passes.
    auto debian = lock(recipe("deb", deb_repo("fixture", "fixture", ", metadata-expire: 36500d"), "packages: [app]\n"));
    EXPECT_EQ(debian.exit_code, 0) << debian.err;

    auto bad = lock(recipe("rpm", rpm_fixture_repo("test.asc", "rpm", ", metadata-expire: 7w"), "packages: [app]\n"));
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("r.yaml:4:"), std::string::npos) << bad.err;
}

// A recipe's lock: builds exactly the locked set, and says which package the repos no longer have.
TEST_F(ResolveTest, RecipeLockIsStrict) {
    auto unlocked = recipe("deb", deb_repo(), "packages: [app]\n");
    ASSERT_EQ(lock(unlocked, {"-o", "pinned.lock.json"}).exit_code, 0);
    auto path = recipe("deb", deb_repo(), "packages: [app]\nlock: pinned.lock.json\n");
    resolve::ResolveOptions options{dir.path() / "cache", false, 2, nullptr, {}};
    auto locked = resolve::resolve(recipe::load(path), options);
    EXPECT_EQ(locked, resolve::read_lock(dir.path() / "pinned.lock.json"));

    // A locked package the repos do not offer with that checksum.
    auto document = read_json(dir.path() / "pinned.lock.json");
    for (auto& package : document.at("packages"))
        if (package.at("name") == "libfoo") package["checksum"] = "sha256:" + std::string(64, '0');
    dir.write("pinned.lock.json", document.dump(2));
    try {
        resolve::resolve(recipe::load(path), options);
        FAIL() << "expected a ResolveError";
    } catch (const resolve::ResolveError& e) {
        EXPECT_NE(std::string(e.what()).find("libfoo 2.0 (amd64) from repo 'fixture'"), std::string::npos) << e.what();
        EXPECT_EQ(e.exit_code(), ExitCode::usage);
    }

    // The recipe's packages changed since the lock was made.
    auto changed = recipe("deb", deb_repo(), "packages: [app, mawk]\nlock: pinned.lock.json\n");
    try {
        resolve::resolve(recipe::load(changed), options);
        FAIL() << "expected a ResolveError";
    } catch (const resolve::ResolveError& e) {
        EXPECT_NE(std::string(e.what()).find("it was made for other packages or repos"), std::string::npos) << e.what();
    }
}

} // namespace
} // namespace imgbuild::test
