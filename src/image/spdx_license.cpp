// SPDX license expressions from what packages write: DEP-5 `License:` lines and rpm License tags.
// A table of known names, a tokenizer and recursive-descent parser for and/or/with and DEP-5's commas,
// and a renderer to SPDX identifiers, LicenseRef-s for the rest (docs/sbom.md).

#include "spdx_license.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "imgbuild/core/deb822.hpp"
#include "imgbuild/core/strings.hpp"

namespace imgbuild::image {
namespace {

using spdx::ExtractedLicense;
using spdx::License;

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// The idstring of a LicenseRef-: SPDX allows letters, digits, '.' and '-'. '+' is kept as "plus" so
// that GPL-2 and GPL-2+ stay apart; every other run of characters becomes one '-'.
std::string license_ref(std::string_view name) {
    std::string id;
    for (char c : name) {
        if (is_alnum(c) || c == '.' || c == '-')
            id += c;
        else if (c == '+')
            id += "-plus";
        else if (!id.empty() && id.back() != '-')
            id += '-';
    }
    while (!id.empty() && id.back() == '-') id.pop_back();
    return "LicenseRef-" + (id.empty() ? std::string("unknown") : id);
}

// Lower-case names → SPDX identifiers: DEP-5's short names that differ from SPDX's, Fedora's legacy
// names, and the SPDX identifiers packages commonly use (so their case is normalized). The GNU
// licenses are handled by gnu_license below.
constexpr std::pair<std::string_view, std::string_view> known_licenses[] = {
    {"0bsd", "0BSD"},
    {"afl-2.1", "AFL-2.1"},
    {"afl-3.0", "AFL-3.0"},
    {"apache-1.0", "Apache-1.0"},
    {"apache-1.1", "Apache-1.1"},
    {"apache-2", "Apache-2.0"},
    {"apache-2.0", "Apache-2.0"},
    {"artistic", "Artistic-1.0-Perl"}, // Debian's common-licenses/Artistic is Perl's
    {"artistic-1.0", "Artistic-1.0"},
    {"artistic-1.0-perl", "Artistic-1.0-Perl"},
    {"artistic-2.0", "Artistic-2.0"},
    {"asl 1.1", "Apache-1.1"},
    {"asl 2.0", "Apache-2.0"},
    {"beerware", "Beerware"},
    {"bitstream-vera", "Bitstream-Vera"},
    {"boost", "BSL-1.0"},
    {"boost-1.0", "BSL-1.0"},
    {"bsd-1-clause", "BSD-1-Clause"},
    {"bsd-2-clause", "BSD-2-Clause"},
    {"bsd-2-clause-patent", "BSD-2-Clause-Patent"},
    {"bsd-3-clause", "BSD-3-Clause"},
    {"bsd-4-clause", "BSD-4-Clause"},
    {"bsd-4-clause-uc", "BSD-4-Clause-UC"},
    {"bsl-1.0", "BSL-1.0"},
    {"bzip2-1.0.6", "bzip2-1.0.6"},
    {"cc-by-2.5", "CC-BY-2.5"},
    {"cc-by-3.0", "CC-BY-3.0"},
    {"cc-by-4.0", "CC-BY-4.0"},
    {"cc-by-sa-2.5", "CC-BY-SA-2.5"},
    {"cc-by-sa-3.0", "CC-BY-SA-3.0"},
    {"cc-by-sa-4.0", "CC-BY-SA-4.0"},
    {"cc0", "CC0-1.0"},
    {"cc0-1.0", "CC0-1.0"},
    {"cddl-1", "CDDL-1.0"},
    {"cddl-1.0", "CDDL-1.0"},
    {"cddl-1.1", "CDDL-1.1"},
    {"cpl-1.0", "CPL-1.0"},
    {"curl", "curl"},
    {"epl-1.0", "EPL-1.0"},
    {"epl-2.0", "EPL-2.0"},
    {"eupl-1.1", "EUPL-1.1"},
    {"eupl-1.2", "EUPL-1.2"},
    {"expat", "MIT"},
    {"fsfap", "FSFAP"},
    {"fsful", "FSFUL"},
    {"fsfullr", "FSFULLR"},
    {"ftl", "FTL"},
    {"gd", "GD"},
    {"hpnd", "HPND"},
    {"icu", "ICU"},
    {"ijg", "IJG"},
    {"isc", "ISC"},
    {"kazlib", "Kazlib"},
    {"latex2e", "Latex2e"},
    {"libpng", "Libpng"},
    {"libpng-2.0", "libpng-2.0"},
    {"linux-man-pages-copyleft", "Linux-man-pages-copyleft"},
    {"lppl-1.3c", "LPPL-1.3c"},
    {"mit", "MIT"},
    {"mit-0", "MIT-0"},
    {"mit-cmu", "MIT-CMU"},
    {"mpl-1.0", "MPL-1.0"},
    {"mpl-1.1", "MPL-1.1"},
    {"mpl-2", "MPL-2.0"},
    {"mpl-2.0", "MPL-2.0"},
    {"ms-pl", "MS-PL"},
    {"ncsa", "NCSA"},
    {"ntp", "NTP"},
    {"ofl-1.1", "OFL-1.1"},
    {"oldap-2.8", "OLDAP-2.8"},
    {"openssl", "OpenSSL"},
    {"postgresql", "PostgreSQL"},
    {"psf-2.0", "PSF-2.0"},
    {"python-2.0", "Python-2.0"},
    {"qpl-1.0", "QPL-1.0"},
    {"ruby", "Ruby"},
    {"sendmail", "Sendmail"},
    {"sil-ofl-1.1", "OFL-1.1"},
    {"sleepycat", "Sleepycat"},
    {"spencer-86", "Spencer-86"},
    {"spencer-94", "Spencer-94"},
    {"tcl", "TCL"},
    {"unicode-dfs-2015", "Unicode-DFS-2015"},
    {"unicode-dfs-2016", "Unicode-DFS-2016"},
    {"unlicense", "Unlicense"},
    {"vim", "Vim"},
    {"w3c", "W3C"},
    {"wtfpl", "WTFPL"},
    {"x11", "X11"},
    {"zlib", "Zlib"},
    {"zope-2.1", "ZPL-2.1"},
    {"zpl-2.0", "ZPL-2.0"},
    {"zpl-2.1", "ZPL-2.1"},
};

// DEP-5's "<license> with <name> exception" → SPDX's listed exceptions.
constexpr std::pair<std::string_view, std::string_view> known_exceptions[] = {
    {"autoconf", "Autoconf-exception-2.0"}, // -3.0 with GPL-3, below
    {"bison", "Bison-exception-2.2"},
    {"bison-2.2", "Bison-exception-2.2"},
    {"classpath", "Classpath-exception-2.0"},
    {"font", "Font-exception-2.0"},
    {"gcc-runtime-3.1", "GCC-exception-3.1"},
    {"libtool", "Libtool-exception"},
    {"linux-syscall-note", "Linux-syscall-note"},
    {"qt-1.0", "Qt-GPL-exception-1.0"},
    {"texinfo", "Texinfo-exception"},
};

// GPL, LGPL, AGPL and GFDL in DEP-5 (GPL-2+), Fedora (GPLv2+) and SPDX (GPL-2.0-or-later, the
// deprecated GPL-2.0+) spelling. No '+' means that version only; no version at all is ambiguous,
// except with '+' ("any version", Fedora's GPL+).
std::optional<std::string> gnu_license(const std::string& name) {
    static const std::regex pattern(
        R"(^(a?gpl|lgpl|gfdl-niv|gfdl)(?:v|-)?([0-9]+(?:\.[0-9]+)?)?(\+|-or-later|-only)?$)");
    std::smatch match;
    if (!std::regex_match(name, match, pattern)) return std::nullopt;
    std::string family = match[1].str(), version = match[2].str(), suffix = match[3].str();
    bool later = suffix == "+" || suffix == "-or-later";
    struct Family {
        std::string_view name, spdx;
        std::array<std::string_view, 3> versions; // the first is what "+" alone means
    };
    static constexpr Family families[] = {{"gpl", "GPL", {"1.0", "2.0", "3.0"}},
                                          {"lgpl", "LGPL", {"2.0", "2.1", "3.0"}},
                                          {"agpl", "AGPL", {"1.0", "3.0", ""}},
                                          {"gfdl", "GFDL", {"1.1", "1.2", "1.3"}},
                                          {"gfdl-niv", "GFDL", {"1.1", "1.2", "1.3"}}};
    auto it = std::find_if(std::begin(families), std::end(families), [&](const Family& f) { return f.name == family; });
    if (it == std::end(families)) return std::nullopt;
    if (version.empty()) {
        if (!later) return std::nullopt;
        version = it->versions.front();
    }
    if (version.find('.') == std::string::npos) version += ".0";
    if (std::find(it->versions.begin(), it->versions.end(), version) == it->versions.end()) return std::nullopt;
    std::string id = fmt::format("{}-{}", it->spdx, version);
    if (family == "gfdl-niv") id += "-no-invariants";
    return id + (later ? "-or-later" : "-only");
}

// The SPDX identifier of a license name, or nullopt when it has none.
std::optional<std::string> spdx_identifier(std::string_view name) {
    // No license name is this long; the guard keeps prose away from libstdc++'s recursive regex matcher.
    if (name.size() > 100) return std::nullopt;
    std::string key = lower(name);
    for (const auto& [alias, id] : known_licenses)
        if (alias == key) return std::string(id);
    if (auto id = gnu_license(key)) return id;
    // "MPL-1.1+": SPDX's own "or later" operator.
    if (key.size() > 1 && key.back() == '+')
        for (const auto& [alias, id] : known_licenses)
            if (alias == std::string_view(key).substr(0, key.size() - 1)) return std::string(id) + "+";
    // "GPL-2+ with Autoconf exception" (DEP-5 writes "with" in lower case, inside the name).
    static const std::regex with_exception(R"(^(\S+) with (\S+) exception$)");
    std::smatch match;
    if (std::regex_match(key, match, with_exception)) {
        auto base = spdx_identifier(match[1].str());
        if (!base) return std::nullopt;
        for (const auto& [alias, exception] : known_exceptions) {
            if (alias != match[2].str()) continue;
            if (alias == "autoconf" && base->starts_with("GPL-3")) return *base + " WITH Autoconf-exception-3.0";
            return fmt::format("{} WITH {}", *base, exception);
        }
    }
    return std::nullopt;
}

// A license expression as written by a package: names joined by and/or (DEP-5, rpm), SPDX's WITH,
// parentheses, and DEP-5's commas (", and" / ", or" close everything before them, so
// "A or B, and C" is "(A OR B) AND C").
struct Node {
    enum class Kind { name, with, conjunction, disjunction };
    Kind kind = Kind::name;
    std::string text; // name: the license name as written; with: the exception
    std::vector<Node> children;
};

int precedence(Node::Kind kind) {
    switch (kind) {
    case Node::Kind::disjunction: return 1;
    case Node::Kind::conjunction: return 2;
    default: return 3;
    }
}

std::vector<std::string> tokenize(std::string_view text) {
    std::vector<std::string> tokens;
    std::string word;
    auto flush = [&] {
        if (!word.empty()) tokens.push_back(std::move(word));
        word.clear();
    };
    for (char c : text) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            flush();
        } else if (c == '(' || c == ')' || c == ',') {
            flush();
            tokens.emplace_back(1, c);
        } else {
            word += c;
        }
    }
    flush();
    return tokens;
}

class Parser {
public:
    explicit Parser(std::string_view text) : m_tokens(tokenize(text)) {}

    // nullopt when the text is not an expression (unbalanced parentheses, a dangling operator).
    std::optional<Node> parse() {
        auto node = sequence();
        if (!node || m_pos != m_tokens.size()) return std::nullopt;
        return node;
    }

private:
    bool peek(std::string_view token, bool any_case = false) const {
        if (m_pos >= m_tokens.size()) return false;
        return any_case ? iequals(m_tokens[m_pos], token) : m_tokens[m_pos] == token;
    }

    // Lower-case "with" belongs to a name ("GPL-2+ with OpenSSL exception" is one DEP-5 name);
    // only SPDX's upper-case WITH is an operator.
    static bool is_operator(const std::string& token) {
        return iequals(token, "and") || iequals(token, "or") || token == "WITH" || token == "(" || token == ")" ||
               token == ",";
    }

    static Node combine(Node::Kind kind, Node left, Node right) {
        Node result;
        if (left.kind == kind) {
            result = std::move(left);
        } else {
            result.kind = kind;
            result.children.push_back(std::move(left));
        }
        if (right.kind == kind)
            for (auto& child : right.children) result.children.push_back(std::move(child));
        else
            result.children.push_back(std::move(right));
        return result;
    }

    std::optional<Node> sequence() {
        auto left = disjunction();
        while (left && peek(",")) {
            ++m_pos;
            // A comma without an operator is prose ("Permission is hereby granted, free of charge"),
            // which is kept whole.
            if (!peek("or", true) && !peek("and", true)) return std::nullopt;
            auto kind = peek("or", true) ? Node::Kind::disjunction : Node::Kind::conjunction;
            ++m_pos;
            auto right = disjunction();
            if (!right) return std::nullopt;
            left = combine(kind, std::move(*left), std::move(*right));
        }
        return left;
    }

    std::optional<Node> disjunction() {
        auto left = conjunction();
        while (left && peek("or", true)) {
            ++m_pos;
            auto right = conjunction();
            if (!right) return std::nullopt;
            left = combine(Node::Kind::disjunction, std::move(*left), std::move(*right));
        }
        return left;
    }

    std::optional<Node> conjunction() {
        auto left = exception();
        while (left && peek("and", true)) {
            ++m_pos;
            auto right = exception();
            if (!right) return std::nullopt;
            left = combine(Node::Kind::conjunction, std::move(*left), std::move(*right));
        }
        return left;
    }

    std::optional<Node> exception() {
        auto left = primary();
        if (!left || !peek("WITH")) return left;
        ++m_pos;
        std::string name = words();
        if (name.empty()) return std::nullopt;
        Node node{Node::Kind::with, std::move(name), {}};
        node.children.push_back(std::move(*left));
        return node;
    }

    std::optional<Node> primary() {
        if (peek("(")) {
            ++m_pos;
            auto inner = sequence();
            if (!inner || !peek(")")) return std::nullopt;
            ++m_pos;
            return inner;
        }
        std::string name = words();
        if (name.empty()) return std::nullopt;
        return Node{Node::Kind::name, std::move(name), {}};
    }

    std::string words() {
        std::string result;
        while (m_pos < m_tokens.size() && !is_operator(m_tokens[m_pos])) {
            if (!result.empty()) result += ' ';
            result += m_tokens[m_pos++];
        }
        return result;
    }

    std::vector<std::string> m_tokens;
    std::size_t m_pos = 0;
};

// Writes parsed expressions as SPDX, recording each LicenseRef- it makes (with the license's text when
// the package's copyright file has it, keyed by the lower-case name).
class Renderer {
public:
    Renderer(License& license, const std::map<std::string, std::string>& texts) : m_license(license), m_texts(texts) {}

    std::string name(std::string_view text) {
        if (auto id = spdx_identifier(text)) return *id;
        std::string ref = license_ref(text);
        auto found = m_texts.find(lower(text));
        m_license.references.emplace(
            ref, ExtractedLicense{std::string(text), found == m_texts.end() ? std::string() : found->second});
        return ref;
    }

    std::string render(const Node& node, int parent = 0) {
        std::string result;
        switch (node.kind) {
        case Node::Kind::name: return name(node.text);
        case Node::Kind::with: {
            // SPDX allows only listed exceptions after WITH: a name that cannot be one keeps the whole
            // "license WITH exception" as one LicenseRef.
            const Node& base = node.children.front();
            bool simple = std::all_of(node.text.begin(), node.text.end(),
                                      [](char c) { return is_alnum(c) || c == '.' || c == '-'; });
            auto id = base.kind == Node::Kind::name ? spdx_identifier(base.text) : std::nullopt;
            if (id && simple && id->find(' ') == std::string::npos) return fmt::format("{} WITH {}", *id, node.text);
            return name(base.kind == Node::Kind::name ? fmt::format("{} WITH {}", base.text, node.text) : node.text);
        }
        case Node::Kind::conjunction:
        case Node::Kind::disjunction: {
            std::string_view separator = node.kind == Node::Kind::conjunction ? " AND " : " OR ";
            for (const auto& child : node.children) {
                if (!result.empty()) result += separator;
                result += render(child, precedence(node.kind));
            }
            return precedence(node.kind) < parent ? "(" + result + ")" : result;
        }
        }
        return result;
    }

private:
    License& m_license;
    const std::map<std::string, std::string>& m_texts;
};

License convert(std::string_view expression, const std::map<std::string, std::string>& texts) {
    License result;
    expression = trim(expression);
    if (expression.empty()) return result;
    Renderer renderer(result, texts);
    auto node = Parser(expression).parse();
    result.expression = node ? renderer.render(*node) : renderer.name(expression);
    return result;
}

// A DEP-5 License field's text after its first line: continuation lines without their leading blank,
// "." standing for an empty line.
std::string license_text(std::string_view value) {
    std::string text;
    std::size_t pos = 0;
    while (pos < value.size()) {
        std::size_t end = value.find('\n', pos);
        if (end == std::string_view::npos) end = value.size();
        std::string_view line = value.substr(pos, end - pos);
        if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (trim(line) == ".") line = {};
        text += line;
        text += '\n';
        pos = end + 1;
    }
    return std::string(trim(text));
}

} // namespace

namespace spdx {

License license(std::string_view expression) { return convert(expression, {}); }

License dep5_license(std::string_view copyright) {
    License result;
    bool header = true, machine_readable = false;
    std::vector<std::string> expressions; // the License of each Files paragraph
    std::string header_license;
    std::map<std::string, std::string> texts; // lower-case license name → its text
    deb822::for_each_paragraph(copyright, [&](const deb822::Paragraph& paragraph) {
        std::string_view value = deb822::field(paragraph, "License");
        auto newline = value.find('\n');
        std::string_view first_line = trim(value.substr(0, newline));
        if (header) {
            header = false;
            std::string format = lower(deb822::field(paragraph, "Format"));
            machine_readable = format.find("copyright-format") != std::string::npos ||
                               format.find("dep5") != std::string::npos || format.find("dep-5") != std::string::npos;
            header_license = first_line;
            return;
        }
        if (!machine_readable || first_line.empty()) return;
        if (newline != std::string_view::npos)
            texts.emplace(lower(first_line), license_text(value.substr(newline + 1)));
        if (!deb822::field(paragraph, "Files").empty()) expressions.emplace_back(first_line);
    });
    if (!machine_readable) return result;
    // The header's License, "the license of the package as a whole", only when no Files paragraph has one.
    if (expressions.empty() && !header_license.empty()) expressions.push_back(header_license);

    // Every paragraph's expression split at its top-level ANDs: the terms of the package's conjunction,
    // each with whether it needs parentheses there.
    Renderer renderer(result, texts);
    std::map<std::string, bool> terms;
    for (const auto& expression : expressions) {
        auto node = Parser(expression).parse();
        if (!node) {
            terms.emplace(renderer.name(expression), false);
            continue;
        }
        std::vector<const Node*> parts;
        if (node->kind == Node::Kind::conjunction)
            for (const auto& child : node->children) parts.push_back(&child);
        else
            parts.push_back(&*node);
        for (const Node* part : parts) {
            // Files in the public domain add no license to the package (public-domain has no SPDX ID).
            if (part->kind == Node::Kind::name && iequals(part->text, "public-domain")) continue;
            terms.emplace(renderer.render(*part), part->kind == Node::Kind::disjunction);
        }
    }
    if (terms.empty()) return result;
    if (terms.size() == 1) {
        result.expression = terms.begin()->first;
        return result;
    }
    result.expression.clear();
    for (const auto& [term, parenthesize] : terms) {
        if (!result.expression.empty()) result.expression += " AND ";
        result.expression += parenthesize ? "(" + term + ")" : term;
    }
    return result;
}

} // namespace spdx
} // namespace imgbuild::image
