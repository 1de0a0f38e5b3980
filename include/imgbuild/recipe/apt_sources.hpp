#pragma once
// The host's apt sources (deb822 .sources and one-line .list files), read so recipes can reach the
// Debian mirror the host is configured with, without writing its address anywhere.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace imgbuild::recipe {

struct AptSource {
    std::string uri;
    std::vector<std::string> suites;
    std::vector<std::string> components;
    std::string signed_by;
    std::filesystem::path file;
};

// Every enabled "deb" source under `apt_dir` (sources.list, then sources.list.d/*.list and *.sources
// in name order, as apt reads them). Unreadable or malformed entries are skipped.
std::vector<AptSource> read_apt_sources(const std::filesystem::path& apt_dir);

// The Debian archives among them: the first source with a Debian suite (bookworm, bullseye-updates, …)
// that is not a security suite, and the first with a -security suite. URIs without a trailing '/'.
struct DebianArchives {
    std::optional<std::string> main;
    std::optional<std::string> security;
};
DebianArchives find_debian_archives(const std::vector<AptSource>& sources);

} // namespace imgbuild::recipe
