#include "recipe/checks.hpp"

#include <gtest/gtest.h>

#include "recipe/yaml_reader.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::recipe {
namespace {

std::vector<std::string> check(std::string_view text) {
    std::vector<Diagnostic> d;
    auto node = read_yaml(text, "c.yaml", d);
    EXPECT_TRUE(node && d.empty());
    SourceMap sources;
    auto json = to_json(*node, sources);
    check_semantics(json, sources, d);
    sort_unique(d);
    std::vector<std::string> lines;
    for (const auto& diagnostic : d) lines.push_back(diagnostic.str());
    return lines;
}

TEST(Checks, SysctlKeysLookLikeSysctlKeys) {
    auto lines =
        check("sysctl:\n  net.core.somaxconn: 4096\n  -net.ipv4.vs.run_estimation: 0\n  net/ipv4/ip_forward: 1\n"
              "  net.ipv4.conf.*.rp_filter: 1\n  nett.core.somaxconn: 1\n  vm: 1\n  net..x: 1\n  net.a b: 1\n");
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[0], "c.yaml:6:3: 'nett.core.somaxconn' is not a sysctl key: sysctl keys start with one of abi, "
                        "crypto, debug, dev, fs, kernel, net, sunrpc, user, vm (did you mean 'net.core.somaxconn'?)");
    EXPECT_EQ(lines[1],
              "c.yaml:7:3: 'vm' is not a sysctl key: it needs a name under the subsystem, e.g. net.core.somaxconn");
    EXPECT_EQ(lines[2], "c.yaml:8:3: 'net..x' is not a sysctl key: it has an empty part ('..' or a dot at an end)");
    EXPECT_EQ(lines[3], "c.yaml:9:3: 'net.a b' is not a sysctl key: 'a b' has characters a sysctl name cannot have");
}

TEST(Checks, UnitNamesEndInAUnitType) {
    auto lines = check("units:\n  enable: [containerd.service, getty@tty1.service, containerd, foo.servce, bar.timer]\n"
                       "  mask: [bar.timer]\n");
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0], "c.yaml:2:52: 'containerd' is not a unit name: it must end in a unit type such as .service, "
                        ".socket, .timer or .target (did you mean 'containerd.service'?)");
    EXPECT_NE(lines[1].find("(did you mean 'foo.service'?)"), std::string::npos);
    EXPECT_EQ(lines[2], "c.yaml:3:10: 'bar.timer' is in units.enable and in units.mask: a unit cannot be both");
}

TEST(Checks, SizesParse) {
    EXPECT_TRUE(check("image: {size: 4GiB}\n").empty());
    EXPECT_EQ(check("image: {size: 4 potatoes}\n"),
              std::vector<std::string>{
                  "c.yaml:1:15: 'image.size' must be a size such as 4GiB, 512MiB or 10GB, not '4 potatoes'"});
    EXPECT_EQ(
        check("image: {size: 1MiB}\n"),
        std::vector<std::string>{"c.yaml:1:15: 'image.size' is 1MiB, too small for a bootable disk (at least 64MiB)"});
}

TEST(Checks, FormatMatchesRepoTypes) {
    auto lines = check("format: deb\nrepos:\n  - {name: a, type: rpm-md, url: 'file:///a', suite: x}\n"
                       "  - {name: a, type: deb, url: 'file:///b'}\n");
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[0], "c.yaml:3:21: repo 'a' has type 'rpm-md', but the recipe's format is 'deb': a deb recipe "
                        "installs from deb repos only");
    EXPECT_EQ(lines[1], "c.yaml:3:47: 'suite' applies to deb repos only, and repo 'a' is of type 'rpm-md'");
    EXPECT_EQ(lines[2], "c.yaml:4:5: repo 'a' is missing the required key 'suite' (e.g. suite: bullseye)");
    EXPECT_EQ(lines[3], "c.yaml:4:12: there is already a repo named 'a' (at c.yaml:3:12); repo names must be unique");
}

TEST(Checks, PackagesAndExcludeDoNotOverlap) {
    EXPECT_EQ(check("packages: [a, b]\nexclude: [b]\n"),
              std::vector<std::string>{"c.yaml:2:11: 'b' is both in packages (at c.yaml:1:15) and in exclude"});
}

TEST(Checks, FilesNeedOneSourceAndACleanPath) {
    auto lines =
        check("files:\n  - {path: /etc/a, content: x, source: /etc/hostname}\n  - {path: /etc/../b, content: x}\n"
              "  - {path: /proc/x, content: x}\n  - {path: /etc/a, content: y}\n");
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_NE(lines[0].find("needs exactly one of 'source'"), std::string::npos);
    EXPECT_EQ(lines[1], "c.yaml:3:12: '/etc/../b' is not a clean absolute file path (write '/b')");
    EXPECT_NE(lines[2].find("is under /proc"), std::string::npos);
    EXPECT_EQ(lines[3], "c.yaml:5:12: '/etc/a' is already written by the file at c.yaml:2:12");
}

TEST(Checks, PathsMustExistWithTheRightKind) {
    test::TempDir dir;
    auto file = dir.write("x.conf", "x");
    std::string text = "overlays: ['" + dir.path().string() + "', '" + file.string() + "', /nonexistent]\n" +
                       "postprocess: ['" + dir.path().string() + "']\n";
    auto lines = check(text);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_NE(lines[0].find("which is not a directory"), std::string::npos) << lines[0];
    EXPECT_NE(lines[1].find("'overlays[2]' names '/nonexistent', which does not exist"), std::string::npos) << lines[1];
    EXPECT_NE(lines[2].find("which is not a regular file"), std::string::npos) << lines[2];
}

TEST(Checks, AccountNamesAndIdsAreUnique) {
    auto lines = check("users: [{name: a, uid: 1000}, {name: a, uid: 1000}]\n");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_NE(lines[0].find("'a' is already defined"), std::string::npos);
    EXPECT_NE(lines[1].find("uid 1000 is already taken"), std::string::npos);
}

TEST(Checks, VersionPlaceholders) {
    EXPECT_TRUE(check("version: \"11.{date}.{n}\"\n").empty());
    auto lines = check("version: \"11.{datum}\"\n");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("unknown placeholder '{datum}'"), std::string::npos);
}

} // namespace
} // namespace imgbuild::recipe
