#pragma once
// Repository metadata: each recipe repo's signed index (Debian InRelease, rpm-md repomd.xml) and the
// package lists it names, fetched into the cache, verified, and described for the pool and the lock.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/location.hpp"
#include "imgbuild/recipe/recipe.hpp"
#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::resolve {

// A recipe repo, with the defaults applied.
struct RepoSpec {
    std::string name;
    std::string type; // deb, rpm-md
    std::string url;  // without a trailing '/'
    std::string suite;
    std::vector<std::string> components;
    std::filesystem::path keyring; // deb
    std::string gpgkey;            // rpm-md: a file or a URL
    bool gpgcheck = false;
    int priority = 500;
    std::string arch; // as the repo names it: amd64 (deb), x86_64 (rpm-md)
    Location where;   // the repo in the recipe, for messages
    // Replayed metadata is refused: an index past its Valid-Until, older than metadata_expire allows,
    // or older than the newest one verified for this repo before. false (apt's check-valid-until) for
    // snapshot mirrors, whose indices are old on purpose.
    bool check_valid_until = true;
    std::int64_t metadata_expire = 0; // seconds; 0: no limit of our own
    // include-packages: only packages whose name matches one of these globs are taken from the repo
    // (empty: all), each with its place in the recipe for the error when it matches nothing.
    std::vector<std::pair<std::string, Location>> include_packages;
};

// "7d", "12h", "30m", "90s", "3600" → seconds; nullopt for anything else (dnf's metadata_expire forms).
std::optional<std::int64_t> parse_duration(std::string_view text);

std::vector<RepoSpec> repo_specs(const recipe::Recipe& recipe);

struct MetadataFile {
    std::string kind;          // packages (deb), primary, filelists (rpm-md)
    std::string path;          // relative to the repo URL
    std::string download_path; // where to fetch it (Debian's by-hash location when the suite offers it)
    Checksum checksum;
    std::uint64_t size = 0;
    std::filesystem::path cached;
};

struct RepoMetadata {
    RepoSpec spec;
    LockedMetadata index;            // the index as fetched (InRelease, Release or repomd.xml)
    std::vector<MetadataFile> files; // what the index lists that the pool needs
    std::int64_t date = 0;           // when the repository was generated
    std::int64_t valid_until = 0;    // Debian's Valid-Until (0: none)
};

struct MetadataOptions {
    std::filesystem::path cache_dir;
    bool offline = false;
    unsigned parallel = 4;
};

// Fetches (offline: finds in the cache) and verifies every repo's metadata. Throws FetchError naming
// the repo and file on an unreachable repo, a bad signature, a wrong checksum, a corrupt index, or an
// index that is expired or older than one verified before (replayed). A package list in the cache is
// used only while it still has the checksum the index gives; a damaged one is fetched again.
std::vector<RepoMetadata> fetch_metadata(const std::vector<RepoSpec>& repos, const MetadataOptions& options);

// Fetches `files` of `repo` (those not cached yet): rpm-md filelists, which only file dependencies need.
void fetch_files(const RepoMetadata& repo, const std::vector<const MetadataFile*>& files,
                 const MetadataOptions& options);

// Debian: the names of Essential: yes packages and the Priority of each package that has one other
// than "optional", from a decompressed Packages file.
struct DebianExtras {
    std::set<std::string> essential;
    std::map<std::string, std::string> priority;
    // Each paragraph's Package and Size, in file order (libsolv's Debian parser keeps no download size).
    std::vector<std::pair<std::string_view, std::uint64_t>> sizes;
};
DebianExtras parse_debian_extras(std::string_view packages);

} // namespace imgbuild::resolve
