// yaml-cpp → Node: keeps yaml-cpp's marks (0-based) as 1-based locations, works out how each scalar
// was written (yaml-cpp only says "plain or not"), and reports what YAML allows but a recipe must not
// contain: duplicate keys, several documents, complex keys, unknown tags.

#include "yaml_reader.hpp"

#include <algorithm>
#include <tuple>

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
                    result.broken = true;
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
            explain_syntax_error(e);
            return std::nullopt;
        }
        if (documents.empty()) {
            report(Location{m_file, 1, 1}, "the file is empty: a recipe is a mapping of keys such as name, "
                                           "format, repos and packages");
            return std::nullopt;
        }
        if (documents.size() > 1) {
            report(document_start(documents[1].Mark()),
                   fmt::format("a recipe file holds one YAML document, this one holds {} "
                               "(remove the '---' separator, or split the file and use include:)",
                               documents.size()));
        }
        const YAML::Node& root = documents.front();
        Node tree = convert(root, Location{m_file, 1, 1});
        // yaml-cpp accepts a quoted string left open until the end of the file; nothing after it was
        // read as written, so stop here.
        if (auto open = unclosed_quote(tree)) {
            report(*open, "the quoted string that starts here is never closed (a closing quote is missing)");
            return std::nullopt;
        }
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

    // The text of line `line` (0-based), without its newline.
    std::string_view line_text(int line) const {
        std::size_t start = 0;
        for (int i = 0; i < line && start != std::string_view::npos; ++i) {
            start = m_text.find('\n', start);
            if (start != std::string_view::npos) ++start;
        }
        if (start == std::string_view::npos) return {};
        return m_text.substr(start, m_text.find('\n', start) - start);
    }

    // The end of the quoted scalar that opens at `pos` (a '"' or '\''), or npos when it never closes.
    std::size_t closing_quote(std::size_t pos) const {
        char quote = m_text[pos];
        for (std::size_t i = pos + 1; i < m_text.size(); ++i) {
            if (quote == '"' && m_text[i] == '\\') {
                ++i;
            } else if (m_text[i] == quote) {
                if (quote == '\'' && i + 1 < m_text.size() && m_text[i + 1] == '\'') { // '' escapes '
                    ++i;
                    continue;
                }
                return i;
            }
        }
        return std::string_view::npos;
    }

    // The first quoted scalar under `node` that never closes.
    std::optional<Location> unclosed_quote(const Node& node) const {
        if (node.style == Node::Style::quoted && node.where.known()) {
            std::string_view line = line_text(node.where.line - 1);
            std::size_t line_start = static_cast<std::size_t>(line.data() - m_text.data());
            std::size_t pos = line_start + static_cast<std::size_t>(node.where.column - 1);
            while (pos < m_text.size() && m_text[pos] != '"' && m_text[pos] != '\'' && m_text[pos] != '\n') ++pos;
            if (pos < m_text.size() && m_text[pos] != '\n' && closing_quote(pos) == std::string_view::npos)
                return Location{m_file, node.where.line, static_cast<int>(pos - line_start) + 1};
        }
        for (const auto& item : node.items)
            if (auto open = unclosed_quote(item)) return open;
        for (const auto& member : node.members)
            if (auto open = unclosed_quote(member.value)) return open;
        return std::nullopt;
    }

    // Where a quote opens a value on `line` without closing on the same line: the usual cause of a
    // syntax error some lines further down.
    std::optional<int> quote_open_at_end_of_line(std::string_view line) const {
        for (std::size_t i = 0; i < line.size(); ++i) {
            char c = line[i];
            if (c == '#' && (i == 0 || line[i - 1] == ' ')) return std::nullopt; // a comment
            if (c != '"' && c != '\'') continue;
            auto before = line.substr(0, i);
            auto last = before.find_last_not_of(' ');
            bool starts_value = last == std::string_view::npos ||
                                std::string_view(":-[{,?").find(before[last]) != std::string_view::npos;
            if (!starts_value) continue;
            std::size_t pos = static_cast<std::size_t>(line.data() - m_text.data()) + i;
            std::size_t end = closing_quote(pos);
            std::size_t line_end = static_cast<std::size_t>(line.data() - m_text.data()) + line.size();
            if (end == std::string_view::npos || end > line_end) return static_cast<int>(i);
            i = end - static_cast<std::size_t>(line.data() - m_text.data());
        }
        return std::nullopt;
    }

    // The unmatched '[' or '{' before `pos`, skipping quoted text and comments.
    std::optional<std::size_t> unmatched_bracket(std::size_t pos, char open) const {
        char close = open == '[' ? ']' : '}';
        std::vector<std::size_t> stack;
        for (std::size_t i = 0; i < pos && i < m_text.size(); ++i) {
            char c = m_text[i];
            if (c == '#' && (i == 0 || m_text[i - 1] == ' ' || m_text[i - 1] == '\n')) {
                i = m_text.find('\n', i);
                if (i == std::string_view::npos) break;
            } else if ((c == '"' || c == '\'') && i > 0 &&
                       std::string_view(" [{,:").find(m_text[i - 1]) != std::string_view::npos) {
                std::size_t end = closing_quote(i);
                if (end == std::string_view::npos) break;
                i = end;
            } else if (c == open) {
                stack.push_back(i);
            } else if (c == close && !stack.empty()) {
                stack.pop_back();
            }
        }
        if (stack.empty()) return std::nullopt;
        return stack.back();
    }

    Location location_of(std::size_t pos) const {
        int line =
            1 + static_cast<int>(std::count(m_text.begin(), m_text.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
        std::size_t line_start = m_text.rfind('\n', pos == 0 ? 0 : pos - 1);
        line_start = line_start == std::string_view::npos || pos == 0 ? 0 : line_start + 1;
        return Location{m_file, line, static_cast<int>(pos - line_start) + 1};
    }

    // The '---' line that starts a document whose first value is at `mark`.
    Location document_start(const YAML::Mark& mark) const {
        for (int line = mark.line; line >= 0; --line)
            if (line_text(line).starts_with("---")) return Location{m_file, line + 1, 1};
        return at(mark);
    }

    // yaml-cpp reports where parsing failed, in parser words; say where the mistake most likely is.
    void explain_syntax_error(const YAML::Exception& e) {
        const std::string& what = e.msg;
        Location failed_at = at(e.mark);
        if (!e.mark.is_null()) {
            // A tab in the indentation: yaml-cpp says "illegal block entry" and the like.
            std::string_view line = line_text(e.mark.line);
            auto indent = line.substr(0, line.find_first_not_of(" \t"));
            if (indent.find('\t') != std::string_view::npos) {
                report(failed_at, "invalid YAML: the line is indented with a tab; YAML allows only spaces");
                return;
            }
            // A quote left open on an earlier line.
            for (int number = 0; number <= e.mark.line; ++number) {
                if (auto column = quote_open_at_end_of_line(line_text(number))) {
                    report(Location{m_file, number + 1, *column + 1},
                           fmt::format("invalid YAML: the quoted string that starts here is not closed on its line, "
                                       "so YAML reads on and fails at line {}, column {} ({})",
                                       failed_at.line, failed_at.column, what));
                    return;
                }
            }
            // "[a, ${b}]": unquoted, the '{' of a variable starts a flow mapping inside the list.
            bool in_flow = line.find('[') != std::string_view::npos || line.find('{') != std::string_view::npos;
            if (auto variable = line.find("${"); in_flow && variable != std::string_view::npos) {
                auto end = line.find('}', variable);
                std::string name(line.substr(variable, end == std::string_view::npos ? 2 : end - variable + 1));
                report(Location{m_file, failed_at.line, static_cast<int>(variable) + 1},
                       fmt::format("invalid YAML: {0} inside [...] or {{...}} must be in quotes, \"{0}\" (unquoted, "
                                   "its '{{' starts a mapping)",
                                   name));
                return;
            }
            // A '[' or '{' that is never closed.
            auto pos = static_cast<std::size_t>(std::max(0, e.mark.pos));
            for (auto [open, close, noun] : {std::tuple{'[', ']', "list"}, std::tuple{'{', '}', "mapping"}}) {
                bool flow_error =
                    what.find(open == '[' ? "end of sequence flow" : "end of map flow") != std::string::npos;
                if (!flow_error) continue;
                if (auto bracket = unmatched_bracket(pos, open)) {
                    report(location_of(*bracket),
                           fmt::format("invalid YAML: the {} opened with '{}' here is not closed with '{}'", noun, open,
                                       close));
                    return;
                }
            }
            if (what == "illegal map value") {
                report(failed_at, "invalid YAML: a ':' here starts a key where none can start; check this line's "
                                  "indentation against the lines above, or put a value containing ': ' in quotes");
                return;
            }
        }
        report(failed_at, "invalid YAML: " + what);
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
