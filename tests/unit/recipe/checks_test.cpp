#include "recipe/checks.hpp"

#include <fmt/format.h>
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

TEST(Checks, UnitNamesAreNotOptionsAndFitSystemd) {
    auto lines = check("units:\n  mask: [-q.service, '" + std::string(260, 'a') + ".service', ok@.service]\n");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_NE(lines[0].find("'-q.service' is not a unit name: it starts with '-'"), std::string::npos) << lines[0];
    EXPECT_NE(lines[1].find("longer than systemd's 255 characters"), std::string::npos) << lines[1];
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

// Every value that names a directory (builds/VERSION): no "..", ".", "latest", '/', newline or
// overlong name, as written and as {date} and {n} make it.
TEST(Checks, VersionsNameOnePlainDirectory) {
    for (const char* good : {"11.{date}.{n}", "{date}.{n}", "1.0+git~rc1_2", "7"})
        EXPECT_TRUE(check(fmt::format("version: \"{}\"\n", good)).empty()) << good;
    for (const char* bad :
         {"..", ".", "../x", "a/b", "a b", "a\\nb", ".hidden", "-rf", "x{", "x}", "{{date}}", "$HOME", "a\\tb", "é"}) {
        auto lines = check(fmt::format("version: \"{}\"\n", bad));
        ASSERT_EQ(lines.size(), 1u) << bad;
        EXPECT_TRUE(lines[0].starts_with("c.yaml:1:10: 'version' ")) << lines[0];
    }
    EXPECT_EQ(check("version: latest\n"),
              std::vector<std::string>{"c.yaml:1:10: 'version' cannot be 'latest': the output directory's "
                                       "builds/latest names the newest build"});
    EXPECT_TRUE(check("version: '" + std::string(128, 'a') + "'\n").empty());
    EXPECT_EQ(check("version: '" + std::string(129, 'a') + "'\n").size(), 1u);
    // {n} may take nine digits, so 120 characters and {n} is too long.
    auto placeholder = check("version: '" + std::string(120, 'a') + "{n}'\n");
    ASSERT_EQ(placeholder.size(), 1u);
    EXPECT_NE(placeholder[0].find("'version' is too long: it names a directory and may have 128 characters at most "
                                  "({date} counting 8, {n} up to 9)"),
              std::string::npos)
        << placeholder[0];
}

TEST(Checks, SuitesAndComponentsStayUnderDists) {
    EXPECT_TRUE(check("repos: [{name: r, type: deb, url: 'file:///r', suite: bullseye/updates, components: [main, "
                      "non-free/debian-installer]}]\n")
                    .empty());
    // A leading '.' or '/' is the schema's pattern's to report.
    for (const char* bad : {"a/..", "a/../../x", "a//b", "a/", "a/./b"}) {
        auto lines = check(fmt::format("repos: [{{name: r, type: deb, url: 'file:///r', suite: '{0}', components: "
                                       "['{0}']}}]\n",
                                       bad));
        ASSERT_EQ(lines.size(), 2u) << bad;
        EXPECT_NE(lines[0].find("is not a suite: it is a path under the repo's dists/"), std::string::npos) << lines[0];
        EXPECT_NE(lines[1].find("is not a component"), std::string::npos) << lines[1];
    }
}

// Each users: field is checked for the line it ends up in: any newline, carriage return or other
// control character, any ':' where fields are ':'-separated, any path that is not clean.
TEST(Checks, UserFieldsCannotAddLinesOrFields) {
    EXPECT_TRUE(
        check("users:\n  - {name: core, password-hash: '$6$salt$abcdefghijklmnopqrstuv', description: 'Core "
              "\"admin\" \\\\ 100%', home: /var/home/core, shell: /bin/bash, ssh-authorized-keys: ['ssh-ed25519 "
              "AAAAC3Nz core@host']}\n  - {name: locked, password-hash: '!'}\n  - {name: des, password-hash: "
              "'abJnggxhB/yWI'}\n  - {name: y, password-hash: '$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G3'}\n")
            .empty());
    struct Case {
        const char* field;
        const char* value;
        const char* says;
    };
    for (const auto& [field, value, says] : std::vector<Case>{
             {"password-hash", "x\\nroot::0:0:99999:7:::", "holds a newline, which would end its line in /etc/shadow"},
             {"password-hash", "$6$a:b$c", "holds ':', which separates the fields of /etc/shadow"},
             {"password-hash", "", "is empty, which lets anyone log in without a password"},
             {"password-hash", "hunter2", "must be a crypt(3) hash"},
             {"password-hash", "$6$salt$h\\r", "holds a carriage return"},
             {"description", "x\\nu evil 0 - /root /bin/sh", "holds a newline: it is one field of /etc/passwd"},
             {"description", "a:b", "holds ':', which separates the fields of /etc/passwd"},
             {"description", "bell\\a", "holds the control character 0x07"},
             {"home", "/home/x\\nf /etc/shadow 0666 - - -", "holds a newline"},
             {"home", "/home/a b", "holds a space"},
             {"home", "/home/a:b", "holds ':'"},
             {"home", "/home/../etc", "not a clean absolute path (write '/etc')"},
             {"home", "/home//x", "not a clean absolute path (write '/home/x')"},
             {"home", "/home/x/", "not a clean absolute path (write '/home/x')"},
             {"shell", "/bin/sh\\n", "holds a newline"},
             {"shell", "/bin/./sh", "not a clean absolute path (write '/bin/sh')"},
         }) {
        auto lines = check(fmt::format("users: [{{name: x, {}: \"{}\"}}]\n", field, value));
        ASSERT_EQ(lines.size(), 1u) << field << " " << value;
        EXPECT_NE(lines[0].find(fmt::format("'users[0].{}'", field)), std::string::npos) << lines[0];
        EXPECT_NE(lines[0].find(says), std::string::npos) << lines[0];
    }
    auto keys = check("users: [{name: x, ssh-authorized-keys: [\"ssh-ed25519 AAAA\\nssh-rsa BBBB\", ok]}]\n");
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_NE(keys[0].find("'users[0].ssh-authorized-keys[0]' holds a newline: each item is one line of "
                           "authorized_keys"),
              std::string::npos)
        << keys[0];
}

TEST(Checks, TheDescriptionIsOneLineWithoutShellQuoting) {
    EXPECT_TRUE(check("description: 'Debian 11 node (containerd, 2024)'\n").empty());
    for (const char* bad : {"a\\nID=evil", "a\\\"; rm -rf /", "$(reboot)", "`id`", "back\\\\slash"}) {
        auto lines = check(fmt::format("description: \"{}\"\n", bad));
        ASSERT_EQ(lines.size(), 1u) << bad;
        EXPECT_TRUE(lines[0].starts_with("c.yaml:1:14: 'description' holds ")) << lines[0];
    }
}

// grub.cfg single-quotes each argument, so only a quote and control characters could break out;
// the arguments imgbuild sets are its own.
TEST(Checks, KernelArgumentsAreSafeInGrubCfgAndNotImgbuildsOwn) {
    EXPECT_TRUE(check("kernel: {args: ['console=ttyS0,115200n8', 'quiet', 'a=$(x);{y}\\\\#\"z\"', "
                      "'systemd.unit=multi-user.target']}\n")
                    .empty());
    struct Case {
        const char* arg;
        const char* says;
    };
    for (const auto& [arg, says] : std::vector<Case>{
             {"a='b'", "holds a single quote (grub.cfg quotes each argument with single quotes"},
             {"a\\x01", "holds the control character 0x01"},
             {"a\\u00e9", "holds a character that is not ASCII"},
             {"a\\x7f", "holds the control character 0x7f"},
             {"root=/dev/sda1", "is one imgbuild sets itself (root=UUID= of the image's root filesystem)"},
             {"ostree=/ostree/boot.0", "is one imgbuild sets itself (ostree= names the deployment to boot)"},
             {"ro", "is one imgbuild sets itself (the root is mounted rw, as ostree needs)"},
             {"rw", "is one imgbuild sets itself"},
         }) {
        auto lines = check(fmt::format("kernel: {{args: [\"{}\"]}}\n", arg));
        ASSERT_EQ(lines.size(), 1u) << arg;
        EXPECT_TRUE(lines[0].starts_with("c.yaml:1:17: kernel argument '")) << lines[0];
        EXPECT_NE(lines[0].find(says), std::string::npos) << lines[0];
    }
}

TEST(Checks, SysctlValuesFitSixtyFourBitsAndOneLine) {
    EXPECT_TRUE(check("sysctl: {net.a.b: 18446744073709551615, net.a.c: -9223372036854775808, net.a.d: '4096 87380 "
                      "6291456', kernel.core_pattern: '|/bin/x %p', net.a.e: \"1\\t2\"}\n")
                    .empty());
    auto lines = check("sysctl:\n  net.a.b: 99999999999999999999999\n  net.a.c: '1 18446744073709551616'\n"
                       "  net.a.d: -9223372036854775809\n  net.a.e: \"1\\r\"\n  net.a.f: \"1\\e[2\"\n");
    ASSERT_EQ(lines.size(), 5u);
    EXPECT_EQ(lines[0], "c.yaml:2:12: the value of sysctl 'net.a.b' holds 99999999999999999999999, beyond 64 bits (a "
                        "sysctl number is between -9223372036854775808 and 18446744073709551615)");
    EXPECT_NE(lines[1].find("holds 18446744073709551616, beyond 64 bits"), std::string::npos) << lines[1];
    EXPECT_NE(lines[2].find("holds -9223372036854775809, beyond 64 bits"), std::string::npos) << lines[2];
    EXPECT_NE(lines[3].find("holds a carriage return, which no sysctl takes"), std::string::npos) << lines[3];
    EXPECT_NE(lines[4].find("holds the control character 0x1b"), std::string::npos) << lines[4];
}

TEST(Checks, FilesOutsideTheRecipesTreeAreNamed) {
    test::TempDir dir;
    auto inside = dir.write("recipes/overlays/etc/x", "x");
    auto outside = dir.write("elsewhere/secret", "x");
    std::filesystem::create_symlink(outside, dir.path() / "recipes/link");
    std::string text =
        fmt::format("files:\n  - {{path: /etc/a, source: '{0}'}}\n  - {{path: /etc/b, source: '{1}'}}\n"
                    "  - {{path: /etc/c, source: '{2}/recipes/link'}}\n  - {{path: /etc/d, content: x}}\n"
                    "overlays: ['{2}/recipes/overlays', '{2}/elsewhere']\n",
                    inside.string(), outside.string(), dir.path().string());
    std::vector<Diagnostic> d;
    auto node = read_yaml(text, "c.yaml", d);
    ASSERT_TRUE(node);
    SourceMap sources;
    auto json = to_json(*node, sources);
    std::vector<Diagnostic> warnings;
    check_outside_tree(json, sources, dir.path() / "recipes", warnings);
    ASSERT_EQ(warnings.size(), 3u);
    auto tree = std::filesystem::canonical(dir.path() / "recipes").string();
    EXPECT_EQ(warnings[0].str(), fmt::format("c.yaml:3:28: the file '{}' is outside the recipe's directory {}: it is "
                                             "copied into the image as it is on this host",
                                             outside.string(), tree));
    EXPECT_NE(warnings[1].message.find(fmt::format("recipes/link' (which is {})", outside.string())), std::string::npos)
        << warnings[1].message;
    EXPECT_NE(warnings[2].message.find("the overlay '"), std::string::npos) << warnings[2].message;
}

} // namespace
} // namespace imgbuild::recipe
