#include "recipe/variables.hpp"

#include <gtest/gtest.h>

#include "recipe/yaml_reader.hpp"

namespace imgbuild::recipe {
namespace {

Node yaml(std::string_view text) {
    std::vector<Diagnostic> d;
    auto node = read_yaml(text, "v.yaml", d);
    EXPECT_TRUE(node && d.empty());
    return *node;
}

Node scalar(const std::string& text) { return Node::scalar(text, Node::Style::quoted, Location{"vars.yaml", 1, 1}); }

TEST(Variables, ExpandsInStringsAndRetypesPlainScalars) {
    Variables vars;
    vars.define("mirror", scalar("http://m/debian"));
    vars.define("max", scalar("1048576"));
    Node root = yaml("url: ${mirror}/dists\nn: ${max}\nq: \"${max}\"\n");
    std::vector<Diagnostic> d;
    vars.expand(root, d);
    EXPECT_TRUE(d.empty());
    EXPECT_EQ(root.find("url")->text, "http://m/debian/dists");
    EXPECT_EQ(root.find("n")->kind, Node::Kind::integer);
    EXPECT_EQ(root.find("q")->kind, Node::Kind::string);
}

TEST(Variables, OnlyDollarBraceIsSpecial) {
    Variables vars;
    Node root = yaml("a: \"$HOME $$ $1 $${literal}\"\n");
    std::vector<Diagnostic> d;
    vars.expand(root, d);
    EXPECT_TRUE(d.empty());
    EXPECT_EQ(root.find("a")->text, "$HOME $$ $1 ${literal}");
}

TEST(Variables, ReportsUndefinedAtTheColumnOfTheReference) {
    Variables vars;
    vars.define("debian_mirror", scalar("x"));
    Node root = yaml("url: \"http://${debian_mirorr}/x\"\n");
    std::vector<Diagnostic> d;
    vars.expand(root, d);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].where, (Location{"v.yaml", 1, 14}));
    EXPECT_EQ(d[0].message, "undefined variable 'debian_mirorr' (did you mean 'debian_mirror'?); define it under "
                            "vars: or with --set debian_mirorr=VALUE");
    EXPECT_EQ(vars.failed().size(), 1u);
}

TEST(Variables, ExpandsDefinitionsRecursivelyAndFindsCycles) {
    Variables vars;
    vars.define("base", scalar("http://h"));
    vars.define("url", scalar("${base}/alinux"));
    vars.define("a", scalar("${b}"));
    vars.define("b", scalar("${a}"));
    Node root = yaml("x: ${url}/3\ny: ${a}\n");
    std::vector<Diagnostic> d;
    vars.expand(root, d);
    EXPECT_EQ(root.find("x")->text, "http://h/alinux/3");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_NE(d[0].message.find("variable cycle: a → b → a"), std::string::npos) << d[0].message;
}

TEST(Variables, BuiltinWithoutValueSaysWhy) {
    Variables vars;
    vars.add_builtin("debian_mirror", std::nullopt, "the host's apt sources name no Debian main archive");
    Node root = yaml("u: ${debian_mirror}\n");
    std::vector<Diagnostic> d;
    vars.expand(root, d);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].message,
              "variable 'debian_mirror' has no value: the host's apt sources name no Debian main archive; "
              "set it with --set debian_mirror=VALUE or under vars:");
}

TEST(Variables, ReportsUnterminatedAndInvalidNames) {
    Variables vars;
    Node root = yaml("a: ab${x\nb: ${not a name}\n");
    std::vector<Diagnostic> d;
    vars.expand(root, d);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].where, (Location{"v.yaml", 1, 6}));
    EXPECT_NE(d[0].message.find("unterminated"), std::string::npos);
    EXPECT_NE(d[1].message.find("is not a variable name"), std::string::npos);
}

TEST(ReferencedVariables, FindsNamesButNotEscapes) {
    Node root = yaml("a: ${x}-${y}\nb: [\"$${z}\"]\n");
    EXPECT_EQ(referenced_variables(root), (std::set<std::string>{"x", "y"}));
}

} // namespace
} // namespace imgbuild::recipe
