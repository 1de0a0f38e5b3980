#pragma once
// Recipes on the fixture repositories that tests/fixtures/make-repos.sh builds before the integration
// tests (the `repos` CTest fixture, at IMGBUILD_FIXTURE_REPOS). Some tests use a recipe's text as a
// cache key, so the text these give is part of what they test: change it only with them.

#include <filesystem>
#include <optional>
#include <string>

namespace imgbuild::test {

// The fixture repositories: deb/, rpm/ and keys/.
inline std::filesystem::path fixture_repos() { return IMGBUILD_FIXTURE_REPOS; }

// The recipe's repos: line for the fixture Debian repository's `suite`, signed by keys/test.gpg:
//   "  - {name: NAME, type: deb, url: 'file://…/deb', suite: SUITE, keyring: …/keys/test.gpg}\n"
inline std::string deb_fixture_repo(const std::string& suite = "fixture", const std::string& name = "fixture") {
    return "  - {name: " + name + ", type: deb, url: 'file://" + (fixture_repos() / "deb").string() +
           "', suite: " + suite + ", keyring: " + (fixture_repos() / "keys/test.gpg").string() + "}\n";
}

// The recipe's repos: line for the fixture rpm-md repository `dir` (rpm/ unless told), verified with
// keys/KEY; `extra` goes inside the braces, after the key:
//   "  - {name: fx, type: rpm-md, url: 'file://…/rpm', gpgkey: …/keys/KEY}\n"
inline std::string rpm_fixture_repo(const std::string& key = "test.asc", const std::string& dir = "rpm",
                                    const std::string& extra = "") {
    return "  - {name: fx, type: rpm-md, url: 'file://" + (fixture_repos() / dir).string() +
           "', gpgkey: " + (fixture_repos() / "keys" / key).string() + extra + "}\n";
}

// A recipe's text, its keys in the order the tests write them:
//   name: NAME
//   version: "VERSION"        (when not empty)
//   format: FORMAT
//   repos:
//   REPOS                     (repos: lines, as deb_fixture_repo() gives them)
//   packages: [PACKAGES]      (when given)
//   REST                      (as it is)
struct FixtureRecipe {
    std::string name = "fixture";
    std::string version;
    std::string format = "deb";
    std::string repos = deb_fixture_repo();
    std::optional<std::string> packages;
    std::string rest;

    std::string text() const {
        std::string result = "name: " + name + "\n";
        if (!version.empty()) result += "version: \"" + version + "\"\n";
        result += "format: " + format + "\nrepos:\n" + repos;
        if (packages) result += "packages: [" + *packages + "]\n";
        return result + rest;
    }
};

} // namespace imgbuild::test
