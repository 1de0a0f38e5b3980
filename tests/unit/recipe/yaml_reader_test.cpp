#include "recipe/yaml_reader.hpp"

#include <gtest/gtest.h>

namespace imgbuild::recipe {
namespace {

Node parse(std::string_view text, std::vector<Diagnostic>& diagnostics) {
    auto node = read_yaml(text, "r.yaml", diagnostics);
    EXPECT_TRUE(node.has_value());
    return node ? *node : Node{};
}

TEST(ReadYaml, TypesScalarsByYaml12CoreSchema) {
    std::vector<Diagnostic> d;
    Node root = parse("a: 1\nb: '1'\nc: true\nd: yes\ne: 0644\nf: ~\ng:\nh: 1.5\ni: \"x\"\nj: !!str 12\nk: 0x1F\n", d);
    EXPECT_TRUE(d.empty());
    EXPECT_EQ(root.find("a")->kind, Node::Kind::integer);
    EXPECT_EQ(root.find("b")->kind, Node::Kind::string);
    EXPECT_EQ(root.find("c")->kind, Node::Kind::boolean);
    EXPECT_EQ(root.find("d")->kind, Node::Kind::string); // YAML 1.1's "yes" is just a word
    EXPECT_EQ(root.find("e")->kind, Node::Kind::integer);
    EXPECT_EQ(root.find("f")->kind, Node::Kind::null);
    EXPECT_EQ(root.find("g")->kind, Node::Kind::null);
    EXPECT_EQ(root.find("h")->kind, Node::Kind::number);
    EXPECT_EQ(root.find("i")->kind, Node::Kind::string);
    EXPECT_EQ(root.find("j")->kind, Node::Kind::string);
    EXPECT_EQ(root.find("k")->kind, Node::Kind::integer);
}

TEST(ReadYaml, KeepsOneBasedLocationsOfKeysAndValues) {
    std::vector<Diagnostic> d;
    Node root = parse("name: x\nlist:\n  - a\n  - 'b'\nempty:\n", d);
    EXPECT_EQ(root.members[0].key_where, (Location{"r.yaml", 1, 1}));
    EXPECT_EQ(root.members[0].value.where, (Location{"r.yaml", 1, 7}));
    EXPECT_EQ(root.find("list")->items[1].where, (Location{"r.yaml", 4, 5}));
    EXPECT_EQ(root.find("list")->items[1].style, Node::Style::quoted);
    // An empty value has no place of its own: its key stands in.
    EXPECT_EQ(root.find("empty")->where, (Location{"r.yaml", 5, 1}));
}

TEST(ReadYaml, ReadsMergeTags) {
    std::vector<Diagnostic> d;
    Node root = parse("a: [!remove x, y]\nb: !replace [z]\nc: !remove\n", d);
    EXPECT_TRUE(d.empty());
    EXPECT_EQ(root.find("a")->items[0].tag, MergeTag::remove);
    EXPECT_EQ(root.find("a")->items[0].text, "x");
    EXPECT_EQ(root.find("b")->tag, MergeTag::replace);
    EXPECT_EQ(root.find("c")->tag, MergeTag::remove);
}

TEST(ReadYaml, ReportsDuplicateKeysAndUnknownTags) {
    std::vector<Diagnostic> d;
    parse("a: 1\nb: !frobnicate 2\na: 3\n", d);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].where, (Location{"r.yaml", 2, 4}));
    EXPECT_NE(d[0].message.find("unknown tag '!frobnicate'"), std::string::npos);
    EXPECT_EQ(d[1].str(), "r.yaml:3:1: duplicate key 'a' (first written at line 1)");
}

TEST(ReadYaml, ReportsSyntaxErrorsWithPlaceAndTabHint) {
    std::vector<Diagnostic> d;
    EXPECT_FALSE(read_yaml("a:\n\t- x\n", "r.yaml", d).has_value());
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].where.line, 2);
    EXPECT_NE(d[0].message.find("tab"), std::string::npos) << d[0].message;

    d.clear();
    EXPECT_FALSE(read_yaml("a: [1, 2\nb: 3\n", "r.yaml", d).has_value());
    ASSERT_EQ(d.size(), 1u);
    EXPECT_NE(d[0].message.find("invalid YAML"), std::string::npos);
}

TEST(ReadYaml, RejectsEmptyFilesListsAndSeveralDocuments) {
    std::vector<Diagnostic> d;
    EXPECT_FALSE(read_yaml("", "r.yaml", d).has_value());
    EXPECT_FALSE(read_yaml("- a\n- b\n", "r.yaml", d).has_value());
    EXPECT_TRUE(read_yaml("a: 1\n---\nb: 2\n", "r.yaml", d).has_value());
    ASSERT_EQ(d.size(), 3u);
    EXPECT_NE(d[0].message.find("empty"), std::string::npos);
    EXPECT_NE(d[1].message.find("not a list"), std::string::npos);
    EXPECT_EQ(d[2].where, (Location{"r.yaml", 2, 1})); // the '---' line
}

TEST(ReadYaml, PointsAtTheQuoteThatIsNeverClosed) {
    std::vector<Diagnostic> d;
    // yaml-cpp itself accepts this: the string swallows the rest of the file.
    EXPECT_FALSE(read_yaml("name: n\ndescription: \"open\nformat: deb\n", "r.yaml", d).has_value());
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].str(),
              "r.yaml:2:14: the quoted string that starts here is never closed (a closing quote is missing)");

    d.clear();
    EXPECT_FALSE(read_yaml("a: 'it''s fine'\nb: \"open\nc: [1]\nd: {x: \"y\"}\ne: f\n- g\n", "r.yaml", d).has_value());
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].where, (Location{"r.yaml", 2, 4})) << d[0].str();
    EXPECT_NE(d[0].message.find("not closed on its line"), std::string::npos);
}

TEST(ReadYaml, PointsAtTheBracketThatIsNeverClosed) {
    std::vector<Diagnostic> d;
    EXPECT_FALSE(read_yaml("a: [1, [2], \"]\"\nb: 1\n", "r.yaml", d).has_value());
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].str(), "r.yaml:1:4: invalid YAML: the list opened with '[' here is not closed with ']'");
}

TEST(ReadYaml, ExplainsUnquotedVariablesInFlowLists) {
    std::vector<Diagnostic> d;
    EXPECT_FALSE(read_yaml("packages: [systemd, ${runtime}]\n", "r.yaml", d).has_value());
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].where, (Location{"r.yaml", 1, 21}));
    EXPECT_NE(d[0].message.find("\"${runtime}\""), std::string::npos) << d[0].message;
}

TEST(ReadYaml, MergeKeysAreReportedAndTheMappingMarkedBroken) {
    std::vector<Diagnostic> d;
    auto node = read_yaml("a: {<<: {x: 1}, y: 2}\n", "r.yaml", d);
    ASSERT_TRUE(node);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_TRUE(node->find("a")->broken);
    std::vector<Location> broken;
    collect_broken(*node, broken);
    EXPECT_EQ(broken, std::vector<Location>{node->find("a")->where});
}

// The tree is built from yaml-cpp's events: an alias is a copy of its anchor's value, with the
// anchor's places, and may be a key.
TEST(ReadYaml, AliasesRepeatTheirAnchorsValue) {
    std::vector<Diagnostic> d;
    Node root = parse("a: &x {k: [1, two]}\nb: *x\n&n name: 1\nc: {*n : 2}\n", d);
    EXPECT_TRUE(d.empty()) << d.front().str();
    const Node* b = root.find("b");
    ASSERT_TRUE(b && b->kind == Node::Kind::mapping);
    EXPECT_EQ(b->find("k")->items[1].text, "two");
    EXPECT_EQ(b->find("k")->items[1].where, (Location{"r.yaml", 1, 15}));
    EXPECT_EQ(root.find("c")->members[0].key, "name");
}

TEST(ReadYaml, RefusesNulInValuesAndKeys) {
    std::vector<Diagnostic> d;
    Node root = parse("a: \"x\\0y\"\n\"b\\0\": 1\nc: ok\n", d);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].where, (Location{"r.yaml", 1, 4}));
    EXPECT_EQ(d[1].where, (Location{"r.yaml", 2, 1}));
    EXPECT_EQ(root.find("a")->text, "x\\0y"); // shown escaped, never passed on with a NUL
    EXPECT_TRUE(root.find("a")->broken);
    EXPECT_EQ(root.members.size(), 2u); // the key with a NUL is dropped
}

TEST(ReadYaml, ReportsTheSecondDocumentAtItsSeparator) {
    std::vector<Diagnostic> d;
    parse("a: 1\n---\nb: 2\n---\nc: 3\n", d);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].where, (Location{"r.yaml", 2, 1}));
    EXPECT_NE(d[0].message.find("this one holds 3"), std::string::npos);
}

// Typing without std::regex (it recursed once per character): the same answers, and a 200,000-digit
// scalar is an integer that JSON keeps as its spelling, not a crash.
TEST(ReadYaml, TypesScalarsWithoutARecursiveRegex) {
    struct Case {
        const char* text;
        Node::Kind kind;
    };
    for (const auto& [text, kind] : std::vector<Case>{
             {"1.", Node::Kind::number},    {".5", Node::Kind::number},    {"-1.5e-3", Node::Kind::number},
             {"1e5", Node::Kind::number},   {"+7", Node::Kind::integer},   {"-0", Node::Kind::integer},
             {"0o17", Node::Kind::integer}, {"0xfF", Node::Kind::integer}, {"0o8", Node::Kind::string},
             {"0x", Node::Kind::string},    {"1e", Node::Kind::string},    {".", Node::Kind::string},
             {"-", Node::Kind::string},     {"1_000", Node::Kind::string}, {"1.2.3", Node::Kind::string},
             {"e5", Node::Kind::string},    {"Null", Node::Kind::null},    {"FALSE", Node::Kind::boolean},
             {"nul", Node::Kind::string},   {"-.5", Node::Kind::number},   {"+.e1", Node::Kind::string},
         }) {
        Node node = Node::scalar(text, Node::Style::plain, Location{});
        EXPECT_EQ(node.kind, kind) << text;
    }
    Node digits = Node::scalar(std::string(200'000, '9'), Node::Style::plain, Location{});
    EXPECT_EQ(digits.kind, Node::Kind::integer);
    SourceMap sources;
    EXPECT_EQ(to_json(digits, sources), std::string(200'000, '9'));
    Node wide = Node::scalar("18446744073709551615", Node::Style::plain, Location{});
    EXPECT_EQ(to_json(wide, sources), nlohmann::json(18446744073709551615ull));
}

// yaml-cpp 0.7 loops forever on a ',' or '%' it cannot place (found by libFuzzer: ",%").
TEST(ReadYaml, StopsWhereYamlCppWouldLoopForever) {
    for (const char* text : {",%", ",", "a: 1\n,\n"}) {
        std::vector<Diagnostic> d;
        EXPECT_FALSE(read_yaml(text, "r.yaml", d).has_value()) << text;
        ASSERT_FALSE(d.empty()) << text;
        EXPECT_NE(d.back().message.find("invalid YAML"), std::string::npos) << d.back().str();
    }
}

} // namespace
} // namespace imgbuild::recipe
