// yaml-cpp → Node: keeps yaml-cpp's marks (0-based) as 1-based locations, works out how each scalar
// was written (yaml-cpp only says "plain or not"), and reports what YAML allows but a recipe must not
// contain: duplicate keys, several documents, complex keys, unknown tags.

#include "yaml_reader.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace imgbuild::recipe {
namespace {

class Reader {
public:
    Reader(std::string_view text, const std::string& file, std::vector<Diagnostic>& diagnostics)
        : m_text(text), m_file(file), m_diagnostics(diagnostics) {}

    Location at(const YAML::Mark& mark) const {
        if (mark.is_null()) return Location{m_file, 0, 0};
        return Location{m_file, mark.line + 1, mark.column + 1};
    }

    void report(Location where, std::string message) {
        m_diagnostics.push_back(Diagnostic{std::move(where), std::move(message)});
    }

    // The scalar's style, read from the source text at its mark: past any anchor or tag, a quote
    // starts a quoted scalar and '|' or '>' a block scalar.
    Node::Style style_at(const YAML::Node& node) const {
        if (node.Tag() == "?") return Node::Style::plain;
        auto pos = static_cast<std::size_t>(std::max(0, node.Mark().pos));
        while (pos < m_text.size() && (m_text[pos] == '!' || m_text[pos] == '&')) {
            while (pos < m_text.size() && m_text[pos] != ' ' && m_text[pos] != '\t' && m_text[pos] != '\n') ++pos;
            while (pos < m_text.size() && (m_text[pos] == ' ' || m_text[pos] == '\t')) ++pos;
        }
        if (pos < m_text.size() && (m_text[pos] == '"' || m_text[pos] == '\'')) return Node::Style::quoted;
        if (pos < m_text.size() && (m_text[pos] == '|' || m_text[pos] == '>')) return Node::Style::block;
        return Node::Style::plain;
    }

    MergeTag merge_tag(const YAML::Node& node, Node::Style& style) {
        const std::string& tag = node.Tag();
        if (tag.empty() || tag == "?" || tag == "!") return MergeTag::none;
        if (tag == "!remove") return MergeTag::remove;
        if (tag == "!replace") return MergeTag::replace;
        if (tag == "tag:yaml.org,2002:str") {
            style = Node::Style::quoted; // !!str: a string whatever it looks like
            return MergeTag::none;
        }
        report(at(node.Mark()), fmt::format("unknown tag '{}': a recipe may use !remove (drop an inherited value) "
                                            "and !replace (replace instead of merge)",
                                            tag));
        return MergeTag::none;
    }

    Node convert(const YAML::Node& node, const Location& fallback) {
        Location where = node.Mark().is_null() ? fallback : at(node.Mark());
        switch (node.Type()) {
        case YAML::NodeType::Undefined:
        case YAML::NodeType::Null: {
            Node result;
            result.where = fallback;
            Node::Style style = Node::Style::plain;
            result.tag = merge_tag(node, style);
            if (style == Node::Style::quoted) result = Node::scalar("", style, fallback);
            return result;
        }
        case YAML::NodeType::Scalar: {
            Node::Style style = style_at(node);
            MergeTag tag = merge_tag(node, style);
            Node result = Node::scalar(node.Scalar(), style, where);
            result.tag = tag;
            return result;
        }
        case YAML::NodeType::Sequence: {
            Node result;
            result.kind = Node::Kind::sequence;
            result.where = where;
            Node::Style ignored{};
            result.tag = merge_tag(node, ignored);
            for (const auto& item : node) {
                // An empty item ("- ") has no mark of its own; its dash is as close as we get.
                result.items.push_back(convert(item, where));
            }
            return result;
        }
        case YAML::NodeType::Map: {
            Node result = Node::mapping(where);
            Node::Style ignored{};
            result.tag = merge_tag(node, ignored);
            for (const auto& pair : node) {
                const YAML::Node& key = pair.first;
                Location key_where = at(key.Mark());
                if (!key.IsScalar()) {
                    report(key_where, "a key must be a plain name, not a list or mapping");
                    continue;
                }
                const std::string& name = key.Scalar();
                if (name == "<<") {
                    report(key_where, "YAML merge keys ('<<') are not supported: use include: to share settings");
                    continue;
                }
                if (const auto* first = find_member(result, name)) {
                    report(key_where,
                           fmt::format("duplicate key '{}' (first written at line {})", name, first->key_where.line));
                    continue;
                }
                // A value left empty ("key:") has no mark of its own; point at its key instead.
                Node value = convert(pair.second, key_where);
                if (pair.second.IsNull()) value.where = key_where;
                result.members.push_back(Member{name, key_where, std::move(value)});
            }
            return result;
        }
        }
        return Node{};
    }

    std::optional<Node> read() {
        std::vector<YAML::Node> documents;
        try {
            documents = YAML::LoadAll(std::string(m_text));
        } catch (const YAML::Exception& e) {
            report(at(e.mark), syntax_message(e));
            return std::nullopt;
        }
        if (documents.empty()) {
            report(Location{m_file, 1, 1}, "the file is empty: a recipe is a mapping of keys such as name, "
                                           "format, repos and packages");
            return std::nullopt;
        }
        if (documents.size() > 1) {
            report(at(documents[1].Mark()),
                   fmt::format("a recipe file holds one YAML document, this one holds {} "
                               "(remove the '---' separator, or split the file and use include:)",
                               documents.size()));
        }
        const YAML::Node& root = documents.front();
        Node tree = convert(root, Location{m_file, 1, 1});
        if (tree.kind != Node::Kind::mapping) {
            report(tree.where, fmt::format("a recipe must be a mapping of keys (name: …, packages: …), not {}",
                                           kind_name(tree.kind)));
            return std::nullopt;
        }
        return tree;
    }

private:
    static const Member* find_member(const Node& mapping, const std::string& key) {
        for (const auto& member : mapping.members)
            if (member.key == key) return &member;
        return nullptr;
    }

    std::string syntax_message(const YAML::Exception& e) const {
        std::string message = "invalid YAML: " + e.msg;
        // yaml-cpp's words for a tab in the indentation are "illegal block entry" and the like; say why.
        if (!e.mark.is_null()) {
            std::size_t line_start = 0;
            for (int line = 0; line < e.mark.line && line_start != std::string_view::npos; ++line) {
                line_start = m_text.find('\n', line_start);
                if (line_start != std::string_view::npos) ++line_start;
            }
            if (line_start != std::string_view::npos) {
                std::string_view line = m_text.substr(line_start, m_text.find('\n', line_start) - line_start);
                auto indent = line.substr(0, line.find_first_not_of(" \t"));
                if (indent.find('\t') != std::string_view::npos)
                    message += " (the line is indented with a tab; YAML allows only spaces)";
            }
        }
        return message;
    }

    std::string_view m_text;
    const std::string& m_file;
    std::vector<Diagnostic>& m_diagnostics;
};

} // namespace

std::optional<Node> read_yaml(std::string_view text, const std::string& file, std::vector<Diagnostic>& diagnostics) {
    return Reader(text, file, diagnostics).read();
}

} // namespace imgbuild::recipe
