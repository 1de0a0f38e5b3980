// The SPDX 2.3 SBOM of an image: the lock gives each package's identity and checksum, the package
// database inside the tree its supplier and declared license (dpkg's status and DEP-5 copyright files,
// or the rpmdb through librpm), read through a RootDir so the tree's links lead nowhere else.
// Reading is best effort per package: one unreadable file costs a field.

#include "imgbuild/image/sbom.hpp"

#include <rpm/header.h>
#include <rpm/rpmdb.h>
#include <rpm/rpmlib.h>
#include <rpm/rpmmacro.h>
#include <rpm/rpmtag.h>
#include <rpm/rpmts.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "imgbuild/core/deb822.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/root_dir.hpp"
#include "wrap/c_ptr.hpp"

namespace imgbuild::image {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using spdx::ExtractedLicense;
using spdx::License;

constexpr const char* noassertion = "NOASSERTION";

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view text) {
    std::string result(text);
    std::transform(result.begin(), result.end(), result.begin(), to_lower);
    return result;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return to_lower(x) == to_lower(y); });
}

std::string_view trim(std::string_view text) {
    auto start = text.find_first_not_of(" \t\r\n");
    if (start == std::string_view::npos) return {};
    return text.substr(start, text.find_last_not_of(" \t\r\n") - start + 1);
}

// The purl specification's percent-encoding: everything but letters, digits and ".-_~".
std::string percent_encode(std::string_view text) {
    std::string result;
    for (char c : text) {
        if (is_alnum(c) || c == '.' || c == '-' || c == '_' || c == '~')
            result += c;
        else
            result += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
    return result;
}

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

std::string iso_time(std::int64_t seconds) {
    auto time = static_cast<std::time_t>(seconds);
    std::tm utc{};
    if (!gmtime_r(&time, &utc)) throw Error("Failed to make the SBOM: {} is not a valid creation time", seconds);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                       utc.tm_hour, utc.tm_min, utc.tm_sec);
}

// `relative` read inside the image's tree: an absolute link in the image (usr/share/doc/libfoo1 →
// /usr/share/doc/foo-common) leads into the image, never to the host. nullopt when it cannot be read.
std::optional<std::string> read_in_root(const RootDir& root, const fs::path& relative) {
    try {
        return root.try_read(relative);
    } catch (const Error& e) {
        log::debug("SBOM: {}", e.what());
        return std::nullopt;
    }
}

// ---- License names and expressions ----

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

// ---- Package databases ----

struct Installed {
    std::string supplier{noassertion};
    License license;
    std::string vendor; // rpm's Vendor tag, for the purl's namespace
};

// (name, arch) → what the database says.
using Database = std::map<std::pair<std::string, std::string>, Installed>;

const Installed* lookup(const Database& database, const resolve::LockedPackage& package) {
    if (auto it = database.find({package.name, package.arch}); it != database.end()) return &it->second;
    // An arch the database spells differently: the name alone, when it is unique.
    auto it = database.lower_bound({package.name, ""});
    if (it == database.end() || it->first.first != package.name) return nullptr;
    auto next = std::next(it);
    if (next != database.end() && next->first.first == package.name) return nullptr;
    return &it->second;
}

License copyright_license(const RootDir& root, std::string_view package) {
    auto text = read_in_root(root, fs::path("usr/share/doc") / package / "copyright");
    return text ? spdx::dep5_license(*text) : License{};
}

Database read_dpkg(const RootDir& root) {
    Database database;
    std::optional<std::string> status;
    for (const char* candidate : {"usr/lib/sysimage/dpkg/status", "var/lib/dpkg/status"})
        if ((status = read_in_root(root, candidate))) break;
    if (!status) {
        log::warn("The SBOM names no suppliers or licenses: '{}' has no readable dpkg status file",
                  readable_path(root.path()));
        return database;
    }
    deb822::for_each_paragraph(*status, [&](const deb822::Paragraph& paragraph) {
        std::string_view name = deb822::field(paragraph, "Package");
        if (name.empty()) return;
        // Removed packages whose conffiles remain are listed too, as "deinstall ok config-files".
        auto status_words = deb822::words(deb822::field(paragraph, "Status"));
        if (!status_words.empty() && status_words.back() != "installed") return;
        std::string_view arch = deb822::field(paragraph, "Architecture");
        if (auto colon = name.find(':'); colon != std::string_view::npos) {
            if (arch.empty()) arch = name.substr(colon + 1);
            name = name.substr(0, colon);
        }
        Installed installed;
        installed.supplier = spdx::supplier(deb822::field(paragraph, "Maintainer"));
        try {
            installed.license = copyright_license(root, name);
        } catch (const std::exception& e) {
            log::debug("SBOM: the license of {} is unknown: {}", name, e.what());
        }
        database.insert_or_assign({std::string(name), std::string(arch)}, std::move(installed));
    });
    return database;
}

using RpmTransaction = wrap::CPtr<rpmts_s, rpmtsFree>;
using RpmIterator = wrap::CPtr<rpmdbMatchIterator_s, rpmdbFreeIterator>;

std::string header_string(Header header, rpmTagVal tag) {
    const char* value = headerGetString(header, tag);
    return value ? std::string(trim(value)) : std::string();
}

// A copy of an rpm database, removed afterwards. librpm never opens a database truly read-only: sqlite
// adds its -shm and -wal files, and where there is no database it makes one. The image's tree must not
// change (an ostree deployment's files are hardlinks into the repository), so librpm reads a copy. The
// database's regular files are copied (read inside the tree; a link among them is left out).
class DatabaseCopy {
public:
    DatabaseCopy(const RootDir& root, const std::string& source) {
        std::string path = (fs::temp_directory_path() / "imgbuild-rpmdb-XXXXXX").string();
        if (!mkdtemp(path.data())) throw Error("Failed to create a directory: {}", std::strerror(errno));
        m_path = path;
        for (const auto& name : root.list(source)) {
            auto info = root.lstat(source + "/" + name);
            if (info && S_ISREG(info->st_mode)) write_file_atomic(m_path / name, root.read(source + "/" + name), 0600);
        }
    }
    ~DatabaseCopy() {
        std::error_code error;
        fs::remove_all(m_path, error);
    }
    DatabaseCopy(const DatabaseCopy&) = delete;
    DatabaseCopy& operator=(const DatabaseCopy&) = delete;

    const fs::path& path() const { return m_path; }

private:
    fs::path m_path;
};

// The directory of the tree's rpm database (sqlite, Berkeley DB or ndb) as a path in the image (its
// links resolved there), if it has one.
std::optional<std::string> rpmdb_directory(const RootDir& root) {
    for (const char* candidate : {"usr/lib/sysimage/rpm", "var/lib/rpm"}) {
        try {
            if (!root.is_directory(candidate)) continue;
            std::string path = root.resolve(candidate);
            for (const char* file : {"rpmdb.sqlite", "Packages", "Packages.db"})
                if (root.is_regular_file(path + "/" + file)) return path;
        } catch (const Error& e) {
            log::debug("SBOM: {}", e.what());
        }
    }
    return std::nullopt;
}

Database read_rpmdb(const RootDir& root) {
    Database database;
    auto directory = rpmdb_directory(root);
    if (!directory) {
        log::warn("The SBOM names no suppliers or licenses: '{}' has no rpm database", readable_path(root.path()));
        return database;
    }
    std::optional<DatabaseCopy> copy;
    try {
        copy.emplace(root, *directory);
    } catch (const std::exception& e) {
        log::warn("The SBOM names no suppliers or licenses: the rpm database '{}' cannot be copied: {}", *directory,
                  e.what());
        return database;
    }
    static std::once_flag configured;
    static int config_result = 0;
    std::call_once(configured, [] { config_result = rpmReadConfigFiles(nullptr, nullptr); });
    if (config_result != 0) {
        log::warn("The SBOM names no suppliers or licenses: rpm's configuration cannot be read");
        return database;
    }
    rpmPushMacro(nullptr, "_dbpath", nullptr, copy->path().c_str(), RMIL_CMDLINE);
    struct PopMacro {
        ~PopMacro() { rpmPopMacro(nullptr, "_dbpath"); }
    } pop_macro;

    RpmTransaction ts(rpmtsCreate());
    rpmtsSetRootDir(ts.get(), "/");
    RpmIterator iterator(rpmtsInitIterator(ts.get(), RPMDBI_PACKAGES, nullptr, 0));
    if (!iterator) {
        log::warn("The SBOM names no suppliers or licenses: the rpm database '{}' cannot be read", *directory);
        return database;
    }
    while (Header header = rpmdbNextIterator(iterator.get())) {
        std::string name = header_string(header, RPMTAG_NAME), arch = header_string(header, RPMTAG_ARCH);
        if (name.empty() || arch.empty()) continue; // gpg-pubkey pseudo-packages have no arch
        Installed installed;
        installed.vendor = header_string(header, RPMTAG_VENDOR);
        installed.supplier = installed.vendor.empty() ? spdx::supplier(header_string(header, RPMTAG_PACKAGER))
                                                      : "Organization: " + installed.vendor;
        try {
            installed.license = spdx::license(header_string(header, RPMTAG_LICENSE));
        } catch (const std::exception& e) {
            log::debug("SBOM: the license of {} is unknown: {}", name, e.what());
        }
        database.insert_or_assign({std::move(name), std::move(arch)}, std::move(installed));
    }
    return database;
}

// The image's os-release ID (debian, ubuntu, fedora, …): the purl namespace of its packages.
std::string os_release_id(const RootDir& root) {
    for (const char* candidate : {"usr/lib/os-release", "etc/os-release", "usr/etc/os-release"}) {
        auto text = read_in_root(root, candidate);
        if (!text) continue;
        for (std::string_view rest = *text; !rest.empty();) {
            auto end = rest.find('\n');
            std::string_view line = trim(rest.substr(0, end));
            rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
            if (!line.starts_with("ID=")) continue;
            std::string_view value = line.substr(3);
            if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
                value = value.substr(1, value.size() - 2);
            return lower(value);
        }
    }
    return {};
}

// rpm's purl namespace without an os-release: the vendor's first word ("Fedora Project" → fedora).
std::string vendor_namespace(std::string_view vendor) {
    std::string result;
    for (char c : trim(vendor)) {
        if (!is_alnum(c)) break;
        result += to_lower(c);
    }
    return result;
}

std::string_view checksum_algorithm(DigestType type) {
    switch (type) {
    case DigestType::md5: return "MD5";
    case DigestType::sha1: return "SHA1";
    case DigestType::sha256: return "SHA256";
    case DigestType::sha512: return "SHA512";
    }
    return "SHA256";
}

// Where a consumer can fetch the package: the lock's URL when it is one anyone can reach (the file:
// URLs of local repositories are not, and SPDX validators refuse them).
std::string download_location(const std::string& url) {
    for (std::string_view scheme : {"http://", "https://", "ftp://"})
        if (url.starts_with(scheme)) return url;
    return std::string(noassertion);
}

} // namespace

namespace spdx {

std::string package_id(std::string_view name, std::string_view arch) {
    std::string id = "SPDXRef-Package-";
    for (char c : name) id += is_alnum(c) || c == '.' || c == '-' ? c : '-';
    id += '-';
    for (char c : arch) id += is_alnum(c) || c == '.' || c == '-' ? c : '-';
    return id;
}

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

std::string supplier(std::string_view maintainer) {
    maintainer = trim(maintainer);
    std::string_view name = maintainer, address;
    if (auto open = maintainer.rfind('<'); open != std::string_view::npos) {
        if (auto close = maintainer.find('>', open); close != std::string_view::npos) {
            address = trim(maintainer.substr(open + 1, close - open - 1));
            name = trim(maintainer.substr(0, open));
        }
    }
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = trim(name.substr(1, name.size() - 2));
    if (name.empty()) name = address;
    if (name.empty()) return std::string(noassertion);

    // A team: its name says so, or it is reached through a mailing list (lists.debian.org,
    // alioth-lists.debian.net, lists.ubuntu.com, …).
    bool team = false;
    std::string word;
    for (std::size_t i = 0; i <= name.size() && !team; ++i) {
        if (i < name.size() && is_alnum(name[i])) {
            word += to_lower(name[i]);
            continue;
        }
        for (std::string_view keyword : {"team", "maintainers", "developers", "packagers", "group", "project"})
            team = team || word == keyword;
        word.clear();
    }
    if (auto at = address.find('@');
        at != std::string_view::npos && lower(address.substr(at)).find("lists") != std::string::npos)
        team = true;

    std::string result = fmt::format("{}: {}", team ? "Organization" : "Person", name);
    if (!address.empty() && address != name) result += fmt::format(" ({})", address);
    return result;
}

std::string purl(std::string_view format, std::string_view namespace_name, const resolve::LockedPackage& package) {
    std::string version = package.version;
    std::vector<std::pair<std::string, std::string>> qualifiers{{"arch", package.arch}};
    if (format == "rpm") {
        // rpm's purl puts the epoch in a qualifier; the version is version-release.
        std::optional<std::int64_t> epoch = package.epoch;
        if (package.upstream_version && package.release) {
            version = *package.upstream_version + "-" + *package.release;
        } else if (auto colon = version.find(':'); colon != std::string::npos) {
            try {
                epoch = std::stoll(version.substr(0, colon));
            } catch (const std::exception&) {
                // not an epoch: keep the version as it is
            }
            if (epoch) version = version.substr(colon + 1);
        }
        if (epoch && *epoch != 0) qualifiers.emplace_back("epoch", std::to_string(*epoch));
    }
    std::string result = fmt::format("pkg:{}/", lower(format));
    if (!namespace_name.empty()) result += percent_encode(lower(namespace_name)) + "/";
    result += percent_encode(format == "deb" ? lower(package.name) : package.name);
    if (!version.empty()) result += "@" + percent_encode(version);
    std::sort(qualifiers.begin(), qualifiers.end());
    char separator = '?';
    for (const auto& [key, value] : qualifiers) {
        if (value.empty()) continue;
        result += fmt::format("{}{}={}", separator, key, percent_encode(value));
        separator = '&';
    }
    return result;
}

} // namespace spdx

json sbom(const SbomInput& input) {
    const auto& lock = input.lock;
    if (lock.format != "deb" && lock.format != "rpm")
        throw Error("Failed to make the SBOM of '{}': the lock's package format '{}' is neither deb nor rpm",
                    input.name, lock.format);
    const std::string created = iso_time(input.created);
    const RootDir root(input.root);
    const Database database = lock.format == "deb" ? read_dpkg(root) : read_rpmdb(root);
    const std::string os_id = os_release_id(root);

    json packages = json::array();
    json image_package = {
        {"SPDXID", "SPDXRef-Image"},
        {"name", input.name},
        {"downloadLocation", noassertion},
        {"filesAnalyzed", false},
        {"builtDate", created},
        // The JSON schema of SPDX 2.3 spells the spec's OPERATING-SYSTEM with an underscore.
        {"primaryPackagePurpose", "OPERATING_SYSTEM"},
        {"licenseConcluded", noassertion},
        {"licenseDeclared", noassertion},
        {"copyrightText", noassertion},
    };
    if (!input.version.empty()) image_package["versionInfo"] = input.version;
    if (!input.commit.empty()) {
        // The commit is a checksum of ostree's commit object, not of a file one downloads, so it is a
        // reference rather than a package checksum.
        image_package["comment"] = fmt::format("ostree commit {}", input.commit);
        image_package["externalRefs"] = json::array(
            {{{"referenceCategory", "OTHER"}, {"referenceType", "ostree-commit"}, {"referenceLocator", input.commit}}});
    }
    packages.push_back(std::move(image_package));

    std::set<std::string> ids;
    std::map<std::string, ExtractedLicense> extracted;
    std::vector<std::tuple<std::string, std::string, std::string>> relationships{
        {"SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"}};
    for (const auto& package : lock.packages) {
        // Two names that differ only in characters SPDX IDs lack (a+b, a-b) still get their own IDs.
        std::string id = spdx::package_id(package.name, package.arch);
        for (int n = 2; !ids.insert(id).second; ++n)
            id = fmt::format("{}-{}", spdx::package_id(package.name, package.arch), n);

        const Installed* installed = lookup(database, package);
        if (!installed) log::debug("SBOM: {} {} is not in the image's package database", package.name, package.arch);
        std::string namespace_name = os_id;
        if (namespace_name.empty())
            namespace_name = lock.format == "deb" ? "debian" : installed ? vendor_namespace(installed->vendor) : "";
        if (namespace_name.empty()) namespace_name = "rpm";

        json entry = {
            {"SPDXID", id},
            {"name", package.name},
            {"supplier", installed ? installed->supplier : std::string(noassertion)},
            {"downloadLocation", download_location(package.url)},
            {"filesAnalyzed", false},
            {"licenseConcluded", noassertion},
            {"licenseDeclared", installed ? installed->license.expression : std::string(noassertion)},
            {"copyrightText", noassertion},
            {"externalRefs", json::array({{{"referenceCategory", "PACKAGE-MANAGER"},
                                           {"referenceType", "purl"},
                                           {"referenceLocator", spdx::purl(lock.format, namespace_name, package)}}})},
        };
        if (!package.version.empty()) entry["versionInfo"] = package.version;
        if (!package.checksum.hex.empty())
            entry["checksums"] = json::array({{{"algorithm", std::string(checksum_algorithm(package.checksum.type))},
                                               {"checksumValue", package.checksum.hex}}});
        if (installed)
            for (const auto& [ref, license] : installed->license.references) extracted.emplace(ref, license);
        packages.push_back(std::move(entry));
        relationships.emplace_back("SPDXRef-Image", "CONTAINS", id);
    }
    std::sort(packages.begin(), packages.end(), [](const json& a, const json& b) {
        return a.at("SPDXID").get_ref<const std::string&>() < b.at("SPDXID").get_ref<const std::string&>();
    });
    std::sort(relationships.begin(), relationships.end());

    json document = {
        {"spdxVersion", "SPDX-2.3"},
        {"dataLicense", "CC0-1.0"},
        {"SPDXID", "SPDXRef-DOCUMENT"},
        {"name", input.version.empty() ? input.name : fmt::format("{}-{}", input.name, input.version)},
        {"documentNamespace", fmt::format("https://imgbuild.invalid/spdx/{}-{}-{}", percent_encode(input.name),
                                          percent_encode(input.version), percent_encode(input.commit))},
        {"creationInfo", {{"created", created}, {"creators", json::array({"Tool: " + input.tool})}}},
        {"packages", std::move(packages)},
        {"relationships", json::array()},
    };
    for (const auto& [element, type, related] : relationships)
        document["relationships"].push_back(
            {{"spdxElementId", element}, {"relationshipType", type}, {"relatedSpdxElement", related}});
    if (!extracted.empty()) {
        json infos = json::array();
        for (const auto& [ref, license] : extracted)
            infos.push_back(
                {{"licenseId", ref},
                 {"name", license.name},
                 {"extractedText", license.text.empty() ? fmt::format("The license named '{}' by the package; its text "
                                                                      "was not found in the image.",
                                                                      license.name)
                                                        : license.text}});
        document["hasExtractedLicensingInfos"] = std::move(infos);
    }
    return document;
}

} // namespace imgbuild::image
