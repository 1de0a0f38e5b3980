// yaml-cpp's parser events → Node: keeps yaml-cpp's marks (0-based) as 1-based locations, works out
// how each scalar was written (yaml-cpp only says "plain or not"), and reports what YAML allows but a
// recipe must not contain: duplicate keys, several documents, complex keys, unknown tags, NUL
// characters. The tree is built from the events (not from yaml-cpp's node graph) so that what aliases
// repeat and how deep values nest is counted as it happens, and refused at the alias that goes too far.

#include "yaml_reader.hpp"

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>
#include <yaml-cpp/anchor.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include "limits.hpp"

namespace imgbuild::recipe {
namespace {

// What a value costs once aliases are expanded: values, bytes of scalar text, levels of nesting.
struct Cost {
    std::uint64_t values = 0;
    std::uint64_t bytes = 0;
    std::size_t depth = 0;

    Cost& operator+=(const Cost& other) {
        values += other.values;
        bytes += other.bytes;
        depth = std::max(depth, other.depth + 1);
        return *this;
    }
};

// Thrown from an event handler to stop the parser once a limit is hit (the finding is reported).
struct Stop {};

class Reader final : public YAML::EventHandler {
public:
    Reader(std::string_view text, const std::string& file, std::vector<Diagnostic>& diagnostics)
        : m_text(text), m_file(file), m_diagnostics(diagnostics) {
        m_line_starts.push_back(0);
        for (std::size_t at = m_text.find('\n'); at != std::string_view::npos; at = m_text.find('\n', at + 1))
            m_line_starts.push_back(at + 1);
    }

    std::optional<Node> read() {
        std::istringstream stream{std::string(m_text)};
        try {
            YAML::Parser parser(stream);
            while (parser.HandleNextDocument(*this)) {
            }
        } catch (const YAML::Exception& e) {
            explain_syntax_error(e);
            return std::nullopt;
        } catch (const Stop&) {
            return std::nullopt;
        }
        if (m_documents == 0 || !m_root) {
            report(Location{m_file, 1, 1}, "the file is empty: a recipe is a mapping of keys such as name, "
                                           "format, repos and packages");
            return std::nullopt;
        }
        if (m_documents > 1) {
            report(document_start(m_second_document),
                   fmt::format("a recipe file holds one YAML document, this one holds {} "
                               "(remove the '---' separator, or split the file and use include:)",
                               m_documents));
        }
        Node tree = std::move(*m_root);
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

    // yaml-cpp's events, in document order.
    void OnDocumentStart(const YAML::Mark& mark) override {
        // yaml-cpp 0.7 reads a ',' or '%' it cannot place as an empty document without moving on, and
        // then again, forever (jbeder/yaml-cpp#1040, fixed after 0.8): a document that starts where
        // the last one did is that loop.
        if (m_documents > 0 && mark.pos == m_last_document.pos) {
            auto pos = static_cast<std::size_t>(std::max(0, mark.pos));
            report(at(mark), fmt::format("invalid YAML: '{}' cannot start a value here",
                                         pos < m_text.size() ? m_text.substr(pos, 1) : std::string_view("…")));
            throw Stop{};
        }
        m_last_document = mark;
        if (++m_documents == 2) m_second_document = mark;
        m_anchors.clear(); // anchors are the document's own
    }
    void OnDocumentEnd() override {}

    void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        if (m_documents > 1) return;
        Node node;
        node.where = at(mark);
        finish(std::move(node), Cost{1, 0, 0}, anchor, true, false);
    }

    void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  const std::string& value) override {
        if (m_documents > 1) return;
        Node::Style style = style_at(mark, tag);
        MergeTag merge = merge_tag(mark, tag, style);
        Node node = Node::scalar(value, style, at(mark));
        node.tag = merge;
        if (value.find('\0') != std::string::npos) {
            report(node.where, "the string holds a NUL character (\"\\0\"), which no value may hold: the files and "
                               "command lines it ends up in cannot carry one");
            std::string shown;
            for (char c : value) shown += c == '\0' ? std::string("\\0") : std::string(1, c);
            node.text = std::move(shown);
            node.broken = true;
        }
        finish(std::move(node), Cost{1, value.size(), 0}, anchor, false, true);
    }

    void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        if (m_documents > 1) return;
        auto found = m_anchors.find(anchor);
        if (found == m_anchors.end()) { // registered but not finished: the alias is inside its own anchor
            report(at(mark), "this alias repeats a value that contains the alias itself, which would never end");
            throw Stop{};
        }
        const auto& [node, cost] = found->second;
        m_aliased.values += cost.values;
        m_aliased.bytes += cost.bytes;
        if (m_aliased.values > limits::alias_values || m_aliased.bytes > limits::alias_bytes) {
            report(at(mark), fmt::format("too much repetition by YAML aliases: with this alias they repeat more than "
                                         "{} values or {} KiB of text in all (a recipe's anchors and aliases are "
                                         "for sharing a few values)",
                                         limits::alias_values, limits::alias_bytes >> 10));
            throw Stop{};
        }
        if (m_stack.size() + cost.depth > limits::nesting_depth) too_deep(mark);
        Node copy = node;
        finish(std::move(copy), cost, YAML::NullAnchor, false, node.is_scalar() && node.kind != Node::Kind::null);
    }

    void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                         YAML::EmitterStyle::value) override {
        if (m_documents > 1) return;
        Node node;
        node.kind = Node::Kind::sequence;
        node.where = at(mark);
        Node::Style ignored{};
        node.tag = merge_tag(mark, tag, ignored);
        open(std::move(node), anchor, mark);
    }
    void OnSequenceEnd() override { close(); }

    void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                    YAML::EmitterStyle::value) override {
        if (m_documents > 1) return;
        Node node = Node::mapping(at(mark));
        Node::Style ignored{};
        node.tag = merge_tag(mark, tag, ignored);
        open(std::move(node), anchor, mark);
    }
    void OnMapEnd() override { close(); }

private:
    // A list or mapping being read, and for a mapping the key waiting for its value.
    struct Frame {
        Node node;
        YAML::anchor_t anchor = YAML::NullAnchor;
        Cost cost;
        bool has_key = false;
        bool keep_pair = false; // false: the pair is dropped (the key was reported)
        std::string key;
        Location key_where;
        std::unordered_map<std::string, int> lines; // key → the line it was first written at
    };

    Location at(const YAML::Mark& mark) const {
        if (mark.is_null()) return Location{m_file, 0, 0};
        return Location{m_file, mark.line + 1, mark.column + 1};
    }

    void report(Location where, std::string message) {
        m_diagnostics.push_back(Diagnostic{std::move(where), std::move(message)});
    }

    [[noreturn]] void too_deep(const YAML::Mark& mark) {
        report(at(mark),
               fmt::format("lists and mappings are nested more than {} levels deep here", limits::nesting_depth));
        throw Stop{};
    }

    void open(Node node, YAML::anchor_t anchor, const YAML::Mark& mark) {
        if (m_stack.size() >= limits::nesting_depth) too_deep(mark);
        m_stack.push_back(Frame{std::move(node), anchor, Cost{1, 0, 0}});
    }

    void close() {
        if (m_documents > 1) return;
        Frame frame = std::move(m_stack.back());
        m_stack.pop_back();
        if (frame.has_key) { // a key without a value event: yaml-cpp always sends one, but do not lose it
            Node null;
            null.where = frame.key_where;
            add_to(frame, std::move(null), true);
        }
        finish(std::move(frame.node), frame.cost, frame.anchor, false, false);
    }

    // A value is complete: remember it under its anchor, then put it where it belongs. `null` marks
    // yaml-cpp's null values (they have no place of their own: the key's or the list's stands in);
    // `scalar_key` whether the value may be a key.
    void finish(Node node, Cost cost, YAML::anchor_t anchor, bool null, bool scalar_key) {
        if (anchor != YAML::NullAnchor) m_anchors[anchor] = {node, cost};
        if (m_stack.empty()) {
            if (null) node.where = Location{m_file, 1, 1};
            if (!m_root) m_root = std::move(node);
            return;
        }
        Frame& parent = m_stack.back();
        parent.cost += cost;
        if (parent.node.kind == Node::Kind::sequence) {
            if (null) node.where = parent.node.where; // an empty item ("- ") has only its list's place
            parent.node.items.push_back(std::move(node));
        } else if (!parent.has_key) {
            take_key(parent, std::move(node), scalar_key);
        } else {
            add_to(parent, std::move(node), null);
        }
    }

    void take_key(Frame& frame, Node key, bool scalar) {
        frame.has_key = true;
        frame.keep_pair = false;
        frame.key_where = key.where;
        if (!scalar) {
            report(key.where, "a key must be a plain name, not a list or mapping");
            return;
        }
        if (key.broken) return; // a NUL, reported
        if (key.text == "<<") {
            report(key.where, "YAML merge keys ('<<') are not supported: use include: to share settings");
            frame.node.broken = true;
            return;
        }
        auto [first, inserted] = frame.lines.emplace(key.text, key.where.line);
        if (!inserted) {
            report(key.where, fmt::format("duplicate key '{}' (first written at line {})", key.text, first->second));
            return;
        }
        frame.key = std::move(key.text);
        frame.keep_pair = true;
    }

    void add_to(Frame& frame, Node value, bool null) {
        frame.has_key = false;
        if (!frame.keep_pair) return;
        // A value left empty ("key:") has no place of its own; point at its key instead.
        if (null) value.where = frame.key_where;
        frame.node.members.push_back(Member{std::move(frame.key), frame.key_where, std::move(value)});
    }

    // The scalar's style, read from the source text at its mark: past any anchor or tag, a quote
    // starts a quoted scalar and '|' or '>' a block scalar.
    Node::Style style_at(const YAML::Mark& mark, const std::string& tag) const {
        if (tag == "?") return Node::Style::plain;
        auto pos = static_cast<std::size_t>(std::max(0, mark.pos));
        while (pos < m_text.size() && (m_text[pos] == '!' || m_text[pos] == '&')) {
            while (pos < m_text.size() && m_text[pos] != ' ' && m_text[pos] != '\t' && m_text[pos] != '\n') ++pos;
            while (pos < m_text.size() && (m_text[pos] == ' ' || m_text[pos] == '\t')) ++pos;
        }
        if (pos < m_text.size() && (m_text[pos] == '"' || m_text[pos] == '\'')) return Node::Style::quoted;
        if (pos < m_text.size() && (m_text[pos] == '|' || m_text[pos] == '>')) return Node::Style::block;
        return Node::Style::plain;
    }

    MergeTag merge_tag(const YAML::Mark& mark, const std::string& tag, Node::Style& style) {
        if (tag.empty() || tag == "?" || tag == "!") return MergeTag::none;
        if (tag == "!remove") return MergeTag::remove;
        if (tag == "!replace") return MergeTag::replace;
        if (tag == "tag:yaml.org,2002:str") {
            style = Node::Style::quoted; // !!str: a string whatever it looks like
            return MergeTag::none;
        }
        report(at(mark), fmt::format("unknown tag '{}': a recipe may use !remove (drop an inherited value) "
                                     "and !replace (replace instead of merge)",
                                     tag));
        return MergeTag::none;
    }

    // The text of line `line` (0-based), without its newline.
    std::string_view line_text(int line) const {
        if (line < 0 || static_cast<std::size_t>(line) >= m_line_starts.size()) return {};
        std::size_t start = m_line_starts[static_cast<std::size_t>(line)];
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
        auto next = std::upper_bound(m_line_starts.begin(), m_line_starts.end(), pos);
        auto line = static_cast<std::size_t>(next - m_line_starts.begin()) - 1;
        return Location{m_file, static_cast<int>(line) + 1, static_cast<int>(pos - m_line_starts[line]) + 1};
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
    std::vector<std::size_t> m_line_starts; // the offset of each line's first character

    int m_documents = 0;
    YAML::Mark m_second_document;
    YAML::Mark m_last_document;
    std::optional<Node> m_root;
    std::vector<Frame> m_stack;
    std::unordered_map<YAML::anchor_t, std::pair<Node, Cost>> m_anchors;
    Cost m_aliased; // what aliases have repeated so far
};

} // namespace

std::optional<Node> read_yaml(std::string_view text, const std::string& file, std::vector<Diagnostic>& diagnostics) {
    return Reader(text, file, diagnostics).read();
}

} // namespace imgbuild::recipe
