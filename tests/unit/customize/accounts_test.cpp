// The sysusers.d, tmpfiles.d and shadow lines of apply_users with hostile fields: a value can neither end
// its line nor start a field of its own, whatever it holds; what cannot be written safely is refused
// with the user's name.

#include "customize/accounts.hpp"

#include <sstream>

#include <gtest/gtest.h>

#include "imgbuild/core/files.hpp"
#include "imgbuild/customize/customize.hpp"
#include "support/command.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::customize {
namespace {

using json = nlohmann::json;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream stream(text);
    for (std::string line; std::getline(stream, line);) lines.push_back(line);
    return lines;
}

std::string error_of(const std::function<void()>& call) {
    try {
        call();
    } catch (const CustomizeError& e) {
        return e.what();
    }
    return {};
}

// How systemd reads a quoted field (extract_first_word with EXTRACT_UNQUOTE | EXTRACT_CUNESCAPE, then
// specifiers): enough of it to check that a quoted value reads back as itself.
std::string unquoted(std::string_view field) {
    EXPECT_TRUE(field.size() >= 2 && field.front() == '"' && field.back() == '"') << field;
    std::string value;
    for (std::size_t i = 1; i + 1 < field.size(); ++i) {
        char c = field[i];
        if (c == '\\') {
            c = field[++i];
            EXPECT_TRUE(c == '\\' || c == '"') << "unexpected escape in " << field;
        } else if (c == '%') {
            EXPECT_EQ(field[++i], '%') << "a lone specifier in " << field;
        } else {
            EXPECT_NE(c, '"') << "an unescaped quote ends the field early: " << field;
        }
        value += c;
    }
    return value;
}

TEST(Accounts, QuotedFieldsReadBackAsThemselves) {
    for (std::string value : {"plain", "with space", "quote \" inside", "back\\slash", "100% sure", "\"", "\\\"",
                              "trailing\\", "%n%%", "'single'"})
        EXPECT_EQ(unquoted(quoted_field(value)), value);
    EXPECT_EQ(quoted_field("a\"b"), R"("a\"b")");
    EXPECT_EQ(quoted_field("50%"), R"("50%%")");
}

TEST(Accounts, SysusersLinesQuoteEveryFreeTextField) {
    json users = json::array({{{"name", "alice"},
                               {"uid", 1001},
                               {"gid", 1001},
                               {"description", "Alice \"Al\" O'Neil, 100%"},
                               {"home", "/home/alice smith"},
                               {"shell", "/bin/bash"},
                               {"groups", {"wheel", "docker"}}},
                              {{"name", "svc"}, {"system", true}}});
    json groups = json::array({{{"name", "docker"}, {"gid", 998}}, {{"name", "wheel"}}});
    auto lines = lines_of(sysusers_lines(groups, users));
    ASSERT_EQ(lines.size(), 6u);
    EXPECT_EQ(lines[0], "g docker 998");
    EXPECT_EQ(lines[1], "g wheel -");
    EXPECT_EQ(lines[2], R"(u alice 1001:1001 "Alice \"Al\" O'Neil, 100%%" "/home/alice smith" "/bin/bash")");
    EXPECT_EQ(lines[3], "m alice wheel");
    EXPECT_EQ(lines[4], "m alice docker");
    EXPECT_EQ(lines[5], R"(u svc - "svc" - -)");
}

TEST(Accounts, FieldsThatWouldBreakALineAreRefused) {
    auto user = [](const char* field, json value) {
        json entry = {{"name", "mallory"}};
        entry[field] = std::move(value);
        return json::array({entry});
    };
    // A newline would start a line of its own (u evil 0 ... : a uid 0 account).
    for (const char* field : {"description", "home", "shell"}) {
        std::string message = error_of([&] { sysusers_lines(json::array(), user(field, "/x\nu evil 0 - / /bin/sh")); });
        EXPECT_NE(message.find("'mallory'"), std::string::npos) << field << ": " << message;
        EXPECT_NE(message.find("a newline"), std::string::npos) << message;
    }
    EXPECT_NE(error_of([&] { sysusers_lines(json::array(), user("description", "tab\there")); }).find("0x09"),
              std::string::npos);
    EXPECT_NE(error_of([&] { sysusers_lines(json::array(), user("description", "del\x7f")); }), "");
    EXPECT_NE(error_of([&] { sysusers_lines(json::array(), user("description", "cr\r")); }), "");
    // ':' separates /etc/passwd's fields: GECOS, home and shell end up there.
    for (const char* field : {"description", "home", "shell"})
        EXPECT_NE(error_of([&] { sysusers_lines(json::array(), user(field, "/a:0:0")); }).find("':'"),
                  std::string::npos)
            << field;
    // Paths: absolute and normalized, as systemd wants them.
    for (const char* path : {"relative", "/a/../etc", "/a//b", "/a/./b", "/a/"})
        EXPECT_NE(error_of([&] { sysusers_lines(json::array(), user("home", path)); }), "") << path;
    // Names that are not names.
    for (const char* name : {"", "a b", "root\n", "-rf", "x:0", "0day", "a234567890123456789012345678901234"})
        EXPECT_NE(error_of([&] { sysusers_lines(json::array(), json::array({{{"name", name}}})); }), "") << name;
    EXPECT_NE(error_of([&] {
                  sysusers_lines(json::array(), json::array({{{"name", "bob"}, {"groups", {"wheel\nu x 0"}}}}));
              }),
              "");
    EXPECT_NE(error_of([&] { sysusers_lines(json::array({{{"name", "g"}, {"gid", "0 - \n"}}}), json::array()); }), "");
    EXPECT_NE(error_of([&] { sysusers_lines(json::array(), json::array({{{"name", "u"}, {"uid", -1}}})); }), "");
}

TEST(Accounts, TmpfilesLinesKeepKeysInTheirArgument) {
    json users = json::array({{{"name", "alice"},
                               {"home", "/home/al ice"},
                               {"ssh-authorized-keys", {"ssh-ed25519 AAAA alice@host", " ssh-rsa BBBB 100%\\ "}}},
                              {{"name", "svc"}, {"system", true}}});
    auto lines = lines_of(tmpfiles_lines(users));
    ASSERT_EQ(lines.size(), 3u) << "a system user without a home gets no line";
    EXPECT_EQ(lines[0], R"(d "/home/al ice" 0700 alice alice -)");
    EXPECT_EQ(lines[1], R"(d "/home/al ice/.ssh" 0700 alice alice -)");
    EXPECT_EQ(lines[2], R"(f "/home/al ice/.ssh/authorized_keys" 0600 alice alice - )"
                        R"(ssh-ed25519 AAAA alice@host\n\x20ssh-rsa BBBB 100%%\\\x20\n)");
}

TEST(Accounts, AKeyWithANewlineIsRefused) {
    // "\nf /etc/sudoers.d/x …" would be a root-owned file written at every boot.
    json users = json::array(
        {{{"name", "alice"}, {"ssh-authorized-keys", {"ssh-ed25519 AAAA\nf /etc/sudoers.d/x 0440 root root - ALL"}}}});
    std::string message = error_of([&] { tmpfiles_lines(users); });
    EXPECT_NE(message.find("'alice'"), std::string::npos) << message;
    EXPECT_NE(message.find("ssh-authorized-keys[0]"), std::string::npos) << message;
    json tabbed = json::array({{{"name", "alice"}, {"ssh-authorized-keys", {"a\x1b[2Jb"}}}});
    EXPECT_NE(error_of([&] { tmpfiles_lines(tabbed); }), "");
    json not_list = json::array({{{"name", "alice"}, {"ssh-authorized-keys", "one"}}});
    EXPECT_NE(error_of([&] { tmpfiles_lines(not_list); }), "");
}

TEST(Accounts, ShadowGetsTheHashInItsOwnField) {
    std::string shadow = "root:*:19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\nalicia:!:1::::::\n";
    EXPECT_EQ(shadow_with_hash(shadow, "alice", "$6$salt$hash"),
              "root:*:19000:0:99999:7:::\nalice:$6$salt$hash:19000:0:99999:7:::\nalicia:!:1::::::\n");
    // ':' would add fields (an empty password field: anyone logs in), a newline a whole account.
    EXPECT_NE(error_of([&] { shadow_with_hash(shadow, "alice", "x::0:"); }).find("':'"), std::string::npos);
    EXPECT_NE(error_of([&] { shadow_with_hash(shadow, "alice", "x\nroot::0:0:99999:7:::"); }).find("a newline"),
              std::string::npos);
    EXPECT_NE(error_of([&] { shadow_with_hash(shadow, "alice", ""); }).find("empty"), std::string::npos);
    EXPECT_NE(error_of([&] { shadow_with_hash(shadow, "bob", "!"); }).find("'bob'"), std::string::npos);
}

// The lines read back by the host's systemd-sysusers and systemd-tmpfiles, confined with --root to a
// temporary directory: the hostile but allowed values come out byte for byte.
TEST(Accounts, SystemdReadsTheValuesBack) {
    if (!std::filesystem::exists("/usr/bin/systemd-sysusers") || !std::filesystem::exists("/usr/bin/systemd-tmpfiles"))
        GTEST_SKIP() << "skipped: the host has no systemd-sysusers and systemd-tmpfiles";
    test::TempDir dir;
    dir.write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    dir.write("etc/group", "root:x:0:\n");
    dir.write("etc/shadow", "root:*:1::::::\n");
    dir.write("etc/gshadow", "root:*::\n");
    std::string gecos = "Alice \"Al\" O'Neil, 100% \\ sure";
    std::string key = " ssh-rsa BBBB 100%\\ ";
    json users = json::array({{{"name", "alice"},
                               {"uid", 1001},
                               {"description", gecos},
                               {"home", "/home/al ice"},
                               {"shell", "/bin/sh"},
                               {"ssh-authorized-keys", {"ssh-ed25519 AAAA alice@host", key}}}});
    auto sysusers = dir.write("sysusers.conf", sysusers_lines(json::array(), users));
    auto created = test::run_command({"systemd-sysusers", "--root=" + dir.path().string(), sysusers.string()});
    ASSERT_EQ(created.exit_code, 0) << created.err;
    EXPECT_NE(read_file(dir.path() / "etc/passwd").find("alice:x:1001:1001:" + gecos + ":/home/al ice:/bin/sh\n"),
              std::string::npos)
        << read_file(dir.path() / "etc/passwd");
    auto tmpfiles = dir.write("tmpfiles.conf", tmpfiles_lines(users));
    auto made = test::run_command({"systemd-tmpfiles", "--root=" + dir.path().string(), "--create", tmpfiles.string()});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    EXPECT_EQ(read_file(dir.path() / "home/al ice/.ssh/authorized_keys"), "ssh-ed25519 AAAA alice@host\n" + key + "\n");
}

} // namespace
} // namespace imgbuild::customize
