// Reads apt's source lists in both formats apt accepts (sources.list(5)): deb822 stanzas and one-line
// entries, so the built-in ${debian_mirror} variables follow the host's configuration at run time.

#include "imgbuild/recipe/apt_sources.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "imgbuild/core/deb822.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"

namespace imgbuild::recipe {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> words(const std::string& text) {
    std::vector<std::string> result;
    std::istringstream stream(text);
    for (std::string word; stream >> word;) result.push_back(word);
    return result;
}

std::string lowercase(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

// One-line format: deb [ option=value ... ] uri suite [component ...]
void read_one_line_file(const fs::path& file, std::vector<AptSource>& out) {
    std::ifstream stream(file);
    for (std::string line; std::getline(stream, line);) {
        line = line.substr(0, line.find('#'));
        std::string options;
        if (auto open = line.find('['); open != std::string::npos) {
            auto close = line.find(']', open);
            if (close == std::string::npos) continue;
            options = line.substr(open + 1, close - open - 1);
            line.erase(open, close - open + 1);
        }
        auto fields = words(line);
        if (fields.size() < 3 || fields[0] != "deb") continue;
        AptSource source{fields[1], {fields[2]}, {fields.begin() + 3, fields.end()}, {}, file};
        for (const auto& option : words(options))
            if (option.starts_with("signed-by=")) source.signed_by = option.substr(10);
        out.push_back(std::move(source));
    }
}

// deb822 (.sources): a stanza per source, "Types: deb", "URIs", "Suites", "Components", "Signed-By".
void read_deb822_file(const fs::path& file, std::vector<AptSource>& out) {
    std::string reason;
    auto text = try_read_file(file, reason);
    if (!text) return;
    deb822::for_each_paragraph(*text, [&](const deb822::Paragraph& stanza) {
        auto types = deb822::words(deb822::field(stanza, "Types"));
        bool enabled = lowercase(std::string(deb822::field(stanza, "Enabled"))) != "no";
        if (!enabled || std::find(types.begin(), types.end(), "deb") == types.end()) return;
        auto to_strings = [](std::vector<std::string_view> views) {
            return std::vector<std::string>(views.begin(), views.end());
        };
        auto signed_by = deb822::words(deb822::field(stanza, "Signed-By"));
        for (auto uri : deb822::words(deb822::field(stanza, "URIs")))
            out.push_back(AptSource{std::string(uri), to_strings(deb822::words(deb822::field(stanza, "Suites"))),
                                    to_strings(deb822::words(deb822::field(stanza, "Components"))),
                                    signed_by.empty() ? "" : std::string(signed_by.front()), file});
    });
}

bool is_debian_suite(const std::string& suite) {
    static const std::set<std::string> codenames = {
        "buster", "bullseye",     "bookworm",  "trixie", "forky",   "duke",
        "sid",    "oldoldstable", "oldstable", "stable", "testing", "unstable",
    };
    std::string base = suite.substr(0, suite.find_first_of("-/"));
    return codenames.count(base) > 0;
}

bool is_security_suite(const std::string& suite) { return suite.ends_with("-security") || suite.ends_with("/updates"); }

std::string without_trailing_slash(std::string uri) {
    while (uri.size() > 1 && uri.back() == '/') uri.pop_back();
    return uri;
}

} // namespace

std::vector<AptSource> read_apt_sources(const fs::path& apt_dir) {
    std::vector<AptSource> sources;
    std::error_code ec;
    if (fs::is_regular_file(apt_dir / "sources.list", ec)) read_one_line_file(apt_dir / "sources.list", sources);
    std::vector<fs::path> parts;
    for (const auto& entry : fs::directory_iterator(apt_dir / "sources.list.d", ec)) parts.push_back(entry.path());
    std::sort(parts.begin(), parts.end());
    for (const auto& part : parts) {
        if (part.extension() == ".list")
            read_one_line_file(part, sources);
        else if (part.extension() == ".sources")
            read_deb822_file(part, sources);
    }
    log::debug("read {} apt sources under {}", sources.size(), apt_dir.string());
    return sources;
}

DebianArchives find_debian_archives(const std::vector<AptSource>& sources) {
    DebianArchives archives;
    for (const auto& source : sources) {
        for (const auto& suite : source.suites) {
            if (!is_debian_suite(suite)) continue;
            auto& slot = is_security_suite(suite) ? archives.security : archives.main;
            if (!slot) slot = without_trailing_slash(source.uri);
        }
    }
    return archives;
}

} // namespace imgbuild::recipe
