// Fetching and verifying repository metadata, in three rounds so the network is used in parallel:
// 1. every repo's index (InRelease or repomd.xml, plus signatures and keys), revalidated with
//    conditional requests; 2. signatures checked (remembered by the digests of index, keyring and the
//    signed content, so an unchanged index is not checked again), indices parsed, and replays refused
//    (an expired Valid-Until, or an index older than the last one verified for the repo); 3. the package
//    lists they name, into a content-addressed cache (a list already there is hashed, not fetched again).

#include "metadata.hpp"

#include <ctime>

#include <fmt/ranges.h>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "imgbuild/core/deb822.hpp"
#include "imgbuild/core/download.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/resolve/resolve.hpp"
#include "signature.hpp"
#include "wrap/solv.hpp"

namespace imgbuild::resolve {
namespace {

namespace fs = std::filesystem;

std::string strip_slash(std::string url) {
    while (url.size() > 1 && url.back() == '/') url.pop_back();
    return url;
}

// Per-repo cache directory: the name for people, a digest of what identifies the repo for uniqueness.
fs::path repo_dir(const MetadataOptions& options, const RepoSpec& spec) {
    std::string identity =
        fmt::format("{}|{}|{}|{}|{}", spec.type, spec.url, spec.suite, fmt::join(spec.components, ","), spec.arch);
    return options.cache_dir / "repos" / fmt::format("{}-{}", spec.name, sha256_hex(identity).substr(0, 16));
}

fs::path metadata_path(const MetadataOptions& options, const Checksum& checksum, const std::string& path) {
    // Keep the file name, so its extension tells solv_xfopen how it is compressed.
    return options.cache_dir / "metadata" / fmt::format("{}-{}", checksum.hex, fs::path(path).filename().string());
}

std::string index_name(const RepoSpec& spec) {
    if (spec.type == "rpm-md") return "repomd.xml";
    return spec.gpgcheck ? "InRelease" : "Release";
}

std::string index_path(const RepoSpec& spec) {
    if (spec.type == "rpm-md") return "repodata/repomd.xml";
    return fmt::format("dists/{}/{}", spec.suite, index_name(spec));
}

DownloadOptions download_options(const MetadataOptions& options) {
    DownloadOptions result;
    result.parallel = options.parallel;
    return result;
}

bool is_url(const std::string& text) { return text.find("://") != std::string::npos; }

fs::path key_path(const MetadataOptions& options, const RepoSpec& spec) {
    if (spec.type == "deb") return spec.keyring;
    if (is_url(spec.gpgkey))
        return options.cache_dir / "keys" / fmt::format("{}.asc", sha256_hex(spec.gpgkey).substr(0, 16));
    return spec.gpgkey;
}

std::string read_or_throw(const fs::path& path, const std::string& what) {
    std::string reason;
    auto text = try_read_file(path, reason);
    if (!text) throw FetchError("Failed to read {} from the cache ('{}'): {}", what, path.string(), reason);
    return std::move(*text);
}

// The signed content of an index, checked once per (index, keyring) pair and remembered. The stamp
// names the content's digest too: remembered content that changed since is verified again.
std::string verified_content(const RepoSpec& spec, const fs::path& dir, const fs::path& key, const std::string& index,
                             const std::string& signature) {
    std::string label = fmt::format("repo '{}' {}", spec.name, index_name(spec));
    std::string keys = read_or_throw(key, fmt::format("the key of repo '{}'", spec.name));
    nlohmann::json stamp = {
        {"index", sha256_hex(index)}, {"signature", sha256_hex(signature)}, {"keys", sha256_hex(keys)}};
    fs::path stamp_path = dir / "verified.json";
    fs::path content_path = dir / "verified-content";
    std::string reason;
    if (auto previous = try_read_file(stamp_path, reason)) {
        auto recorded = nlohmann::json::parse(*previous, nullptr, false);
        if (recorded.is_object() && recorded.contains("content")) {
            std::string content_digest = recorded["content"].is_string() ? recorded["content"].get<std::string>() : "";
            recorded.erase("content");
            if (recorded == stamp) {
                std::error_code ec;
                // A regular file (not a link put in its place) whose bytes are the ones verified.
                auto content = fs::is_regular_file(fs::symlink_status(content_path, ec))
                                   ? try_read_file(content_path, reason)
                                   : std::nullopt;
                if (content && sha256_hex(*content) == content_digest) return std::move(*content);
                log::warn("verifying {} again: its verified content in the cache ('{}') is damaged", label,
                          content_path.string());
            }
        }
    }
    Verifier verifier(key);
    std::string content;
    if (spec.type == "deb") {
        content = verifier.verify_clearsigned(index, label);
    } else {
        verifier.verify_detached(index, signature, label);
        content = index;
    }
    stamp["content"] = sha256_hex(content);
    write_file_atomic(content_path, content);
    write_file_atomic(stamp_path, stamp.dump());
    return content;
}

std::int64_t parse_release_date(std::string_view date) {
    std::tm tm{};
    std::string text(date);
    if (!strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S", &tm)) return 0;
    return static_cast<std::int64_t>(timegm(&tm));
}

std::string utc(std::int64_t seconds) {
    std::time_t time = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&time, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return text;
}

// Refuses an index that a mirror (or someone in between) may be replaying: apt's Valid-Until check, a
// recipe's metadata-expire, and no going back behind the newest index verified for this repo (kept in
// its cache directory as newest.json). Offline, the cached index meets the same checks.
void check_replay(const RepoMetadata& repo, const fs::path& dir) {
    const RepoSpec& spec = repo.spec;
    std::string label = fmt::format("repo '{}' {}", spec.name, index_name(spec));
    const char* allow = "for a snapshot mirror, whose metadata is old on purpose, set 'check-valid-until: false' "
                        "on the repo";
    auto now = static_cast<std::int64_t>(std::time(nullptr));
    fs::path newest_path = dir / "newest.json";
    std::string reason;
    std::int64_t newest = 0;
    if (auto text = try_read_file(newest_path, reason)) {
        auto recorded = nlohmann::json::parse(*text, nullptr, false);
        if (recorded.is_object() && recorded.value("date", nlohmann::json()).is_number_integer())
            newest = recorded["date"].get<std::int64_t>();
    }
    if (spec.check_valid_until) {
        if (repo.valid_until > 0 && repo.valid_until < now)
            throw FetchError("Failed to use {}: it expired on {} (its Valid-Until), so it may be an old index "
                             "replayed to hide updates; {}",
                             label, utc(repo.valid_until), allow);
        if (spec.metadata_expire > 0 && repo.date > 0 && repo.date + spec.metadata_expire < now)
            throw FetchError("Failed to use {}: it was made on {}, longer ago than the repo's metadata-expire ({} "
                             "seconds) allows, so it may be an old index replayed to hide updates; {}",
                             label, utc(repo.date), spec.metadata_expire, allow);
        if (repo.date > 0 && repo.date < newest)
            throw FetchError("Failed to use {}: it was made on {}, before the one verified earlier ({}): the repo "
                             "went back to older metadata (a rollback); {}, or remove '{}' to forget the newer one",
                             label, utc(repo.date), utc(newest), allow, newest_path.string());
    } else if (repo.date > 0 && repo.date < newest) {
        log::info("{} was made on {}, before the one verified earlier ({}): accepted (check-valid-until: false)", label,
                  utc(repo.date), utc(newest));
    }
    if (repo.date > newest)
        write_file_atomic(newest_path, nlohmann::json{{"date", repo.date}, {"index", repo.index.checksum.hex}}.dump());
}

// A package list in the cache is used only while it has the checksum the index gives (a regular
// file, not a link put in its place); a damaged one is removed, to be fetched again.
bool cached_list_intact(const RepoMetadata& repo, const MetadataFile& file) {
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(file.cached, ec))) return false;
    if (checksum_cached_file(file.cached, file.checksum.type) == file.checksum) return true;
    log::warn("discarding the cached package list of repo '{}' '{}': it no longer has the checksum {} gives",
              repo.spec.name, file.cached.string(), index_name(repo.spec));
    fs::remove(file.cached, ec);
    return false;
}

// Debian: the Release's SHA256 list → the Packages file of each component, compressed when possible.
void plan_debian(RepoMetadata& repo, const std::string& release) {
    const RepoSpec& spec = repo.spec;
    std::map<std::string, std::pair<Checksum, std::uint64_t>> listed;
    bool by_hash = false;
    bool parsed = false;
    deb822::for_each_paragraph(release, [&](const deb822::Paragraph& paragraph) {
        if (parsed) return;
        parsed = true;
        repo.date = parse_release_date(deb822::field(paragraph, "Date"));
        if (auto valid_until = deb822::field(paragraph, "Valid-Until"); !valid_until.empty()) {
            repo.valid_until = parse_release_date(valid_until);
            if (repo.valid_until == 0)
                throw FetchError("Failed to read repo '{}' {}: its Valid-Until '{}' is not a date", spec.name,
                                 index_name(spec), valid_until);
        }
        by_hash = deb822::field(paragraph, "Acquire-By-Hash") == "yes";
        for (auto line : deb822::lines(deb822::field(paragraph, "SHA256"))) {
            auto parts = deb822::words(line);
            if (parts.size() != 3) continue;
            listed[std::string(parts[2])] = {Checksum{DigestType::sha256, std::string(parts[0])},
                                             std::stoull(std::string(parts[1]))};
        }
    });
    if (listed.empty())
        throw FetchError("Failed to read repo '{}' {}: it lists no SHA256 checksums (a corrupt or truncated file?)",
                         spec.name, index_name(spec));
    for (const auto& component : spec.components) {
        bool found = false;
        for (const char* suffix : {".xz", ".gz", ""}) {
            std::string relative = fmt::format("{}/binary-{}/Packages{}", component, spec.arch, suffix);
            auto it = listed.find(relative);
            if (it == listed.end()) continue;
            std::string path = fmt::format("dists/{}/{}", spec.suite, relative);
            MetadataFile file{"packages", path, path, it->second.first, it->second.second, {}};
            if (by_hash)
                file.download_path = fmt::format("dists/{}/{}/binary-{}/by-hash/SHA256/{}", spec.suite, component,
                                                 spec.arch, it->second.first.hex);
            repo.files.push_back(std::move(file));
            found = true;
            break;
        }
        if (!found)
            throw FetchError("Failed to find the package list of repo '{}': suite '{}' has no component '{}' for {}",
                             spec.name, spec.suite, component, spec.arch);
    }
}

// rpm-md: libsolv reads repomd.xml; the primary list is needed, filelists only for file dependencies.
void plan_rpmmd(RepoMetadata& repo, const std::string& repomd, const fs::path& cached) {
    wrap::PoolPtr pool(pool_create());
    Repo* index = repo_create(pool.get(), "repomd");
    wrap::File file(solv_xfopen(cached.c_str(), "r"));
    if (!file || repo_add_repomdxml(index, file.get(), 0) != 0)
        throw FetchError("Failed to read repo '{}' repomd.xml: {}", repo.spec.name, pool_errstr(pool.get()));
    (void)repomd;
    repo.date = static_cast<std::int64_t>(repo_lookup_num(index, SOLVID_META, REPOSITORY_TIMESTAMP, 0));
    for (const char* kind : {"primary", "filelists"}) {
        Dataiterator di;
        dataiterator_init(&di, pool.get(), index, SOLVID_META, REPOSITORY_REPOMD_TYPE, kind, SEARCH_STRING);
        dataiterator_prepend_keyname(&di, REPOSITORY_REPOMD);
        if (dataiterator_step(&di)) {
            dataiterator_setpos_parent(&di);
            const char* location = pool_lookup_str(pool.get(), SOLVID_POS, REPOSITORY_REPOMD_LOCATION);
            Id type = 0;
            const char* checksum = pool_lookup_checksum(pool.get(), SOLVID_POS, REPOSITORY_REPOMD_CHECKSUM, &type);
            auto size = pool_lookup_num(pool.get(), SOLVID_POS, REPOSITORY_REPOMD_SIZE, 0);
            auto digest = type ? digest_type(solv_chksum_type2str(type)) : std::nullopt;
            if (location && checksum && digest)
                repo.files.push_back(MetadataFile{kind, location, location, Checksum{*digest, checksum}, size, {}});
        }
        dataiterator_free(&di);
    }
    if (repo.files.empty() || repo.files.front().kind != "primary")
        throw FetchError("Failed to read repo '{}' repomd.xml: it names no primary package list with a checksum",
                         repo.spec.name);
}

} // namespace

std::vector<RepoSpec> repo_specs(const recipe::Recipe& recipe) {
    std::vector<RepoSpec> specs;
    const auto& json = recipe.json();
    std::string format = json.value("format", "deb");
    std::string arch = recipe.arch();
    const auto& repos = json.at("repos");
    for (std::size_t i = 0; i < repos.size(); ++i) {
        const auto& repo = repos[i];
        RepoSpec spec;
        spec.name = repo.at("name");
        spec.type = repo.at("type");
        spec.url = strip_slash(repo.at("url"));
        spec.suite = repo.value("suite", "");
        spec.components = repo.value("components", std::vector<std::string>{"main"});
        spec.keyring = repo.value("keyring", "");
        spec.gpgkey = repo.value("gpgkey", "");
        bool has_key = !spec.keyring.empty() || !spec.gpgkey.empty();
        spec.gpgcheck = repo.value("gpgcheck", has_key);
        spec.priority = repo.value("priority", 500);
        spec.check_valid_until = repo.value("check-valid-until", true);
        if (repo.contains("metadata-expire")) {
            const auto& expire = repo["metadata-expire"];
            auto seconds = expire.is_number_integer() ? std::optional(expire.get<std::int64_t>())
                           : expire.is_string()       ? parse_duration(expire.get<std::string>())
                                                      : std::nullopt;
            if (!seconds || *seconds <= 0)
                throw RecipeError(
                    {{recipe.sources().value(nlohmann::json::json_pointer("/repos") / i / "metadata-expire"),
                      fmt::format("metadata-expire must be a positive number of seconds or a duration "
                                  "such as 7d, 12h or 30m, not {}",
                                  expire.dump())}});
            spec.metadata_expire = *seconds;
        }
        if (repo.contains("include-packages")) {
            const auto& patterns = repo["include-packages"];
            for (std::size_t j = 0; j < patterns.size(); ++j)
                spec.include_packages.emplace_back(
                    patterns[j].get<std::string>(),
                    recipe.sources().value(nlohmann::json::json_pointer("/repos") / i / "include-packages" / j));
        }
        spec.arch = spec.type == "deb" ? (arch == "x86_64" ? "amd64" : arch) : arch;
        spec.where = recipe.sources().value(nlohmann::json::json_pointer("/repos") / i);
        if (!has_key)
            log::warn("repo '{}' has no {}: its metadata is not verified", spec.name,
                      spec.type == "deb" ? "keyring" : "gpgkey");
        else if (!spec.gpgcheck)
            log::warn("repo '{}' has gpgcheck: false: its metadata is not verified", spec.name);
        (void)format;
        specs.push_back(std::move(spec));
    }
    return specs;
}

std::optional<std::int64_t> parse_duration(std::string_view text) {
    if (text.empty() || text.size() > 12) return std::nullopt;
    std::int64_t unit = 1;
    switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default:
        if (text.back() < '0' || text.back() > '9') return std::nullopt;
    }
    if (text.back() < '0' || text.back() > '9') text.remove_suffix(1);
    if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    std::int64_t value = 0;
    for (char c : text) value = value * 10 + (c - '0');
    return value * unit;
}

std::vector<RepoMetadata> fetch_metadata(const std::vector<RepoSpec>& repos, const MetadataOptions& options) {
    // Round 1: indices, signatures and keys named by URL.
    std::vector<DownloadRequest> requests;
    for (const auto& spec : repos) {
        fs::path dir = repo_dir(options, spec);
        std::string label = fmt::format("repo '{}' {}", spec.name, index_name(spec));
        requests.push_back({spec.url + "/" + index_path(spec), dir / index_name(spec), {}, {}, true, label});
        if (spec.type == "rpm-md" && spec.gpgcheck) {
            requests.push_back({spec.url + "/" + index_path(spec) + ".asc",
                                dir / "repomd.xml.asc",
                                {},
                                {},
                                true,
                                fmt::format("repo '{}' repomd.xml.asc", spec.name)});
            if (is_url(spec.gpgkey))
                requests.push_back(
                    {spec.gpgkey, key_path(options, spec), {}, {}, true, fmt::format("repo '{}' gpgkey", spec.name)});
        }
    }
    if (options.offline) {
        for (const auto& request : requests)
            if (!fs::exists(request.destination))
                throw FetchError("Failed to resolve offline: {} is not in the cache ({}); run once without --offline",
                                 request.label, readable_path(request.destination));
    } else {
        download(requests, download_options(options));
    }

    // Round 2: verify and parse each index.
    std::vector<RepoMetadata> result;
    for (const auto& spec : repos) {
        try {
            fs::path dir = repo_dir(options, spec);
            fs::path index_file = dir / index_name(spec);
            std::string index = read_or_throw(index_file, fmt::format("repo '{}' {}", spec.name, index_name(spec)));
            RepoMetadata repo{
                spec,
                LockedMetadata{index_path(spec), Checksum{DigestType::sha256, sha256_hex(index)}, index.size()},
                {},
                0};
            std::string content = index;
            if (spec.gpgcheck) {
                std::string signature =
                    spec.type == "rpm-md" ? read_or_throw(dir / "repomd.xml.asc", "repomd.xml.asc") : "";
                content = verified_content(spec, dir, key_path(options, spec), index, signature);
            }
            if (spec.type == "deb")
                plan_debian(repo, content);
            else
                plan_rpmmd(repo, content, index_file);
            check_replay(repo, dir);
            result.push_back(std::move(repo));
        } catch (Error& e) {
            e.add_context("while reading the metadata of repo '{}' ({})", spec.name, spec.where.str());
            throw;
        }
    }

    // Round 3: the package lists, each fetched once into the content-addressed cache.
    std::vector<DownloadRequest> lists;
    for (auto& repo : result) {
        for (auto& file : repo.files) {
            file.cached = metadata_path(options, file.checksum, file.path);
            if (file.kind == "filelists" || cached_list_intact(repo, file)) continue; // filelists: only when needed
            if (options.offline)
                throw FetchError(
                    "Failed to resolve offline: repo '{}' {} is not in the cache; run once without --offline",
                    repo.spec.name, file.path);
            lists.push_back({repo.spec.url + "/" + file.download_path, file.cached, file.checksum,
                             file.size ? std::optional(file.size) : std::nullopt, false,
                             fmt::format("repo '{}' {}", repo.spec.name, fs::path(file.path).filename().string())});
        }
    }
    if (!lists.empty()) {
        log::info("fetching {} package list{}", lists.size(), lists.size() == 1 ? "" : "s");
        download(lists, download_options(options));
    }
    return result;
}

void fetch_files(const RepoMetadata& repo, const std::vector<const MetadataFile*>& files,
                 const MetadataOptions& options) {
    std::vector<DownloadRequest> requests;
    for (const auto* file : files) {
        if (cached_list_intact(repo, *file)) continue;
        if (options.offline)
            throw FetchError("Failed to resolve offline: repo '{}' {} is not in the cache; run once without --offline",
                             repo.spec.name, file->path);
        requests.push_back({repo.spec.url + "/" + file->download_path, file->cached, file->checksum,
                            file->size ? std::optional(file->size) : std::nullopt, false,
                            fmt::format("repo '{}' {}", repo.spec.name, fs::path(file->path).filename().string())});
    }
    download(requests, download_options(options));
}

PackageKeys package_keys(const recipe::Recipe& recipe, const fs::path& cache_dir) {
    PackageKeys result;
    MetadataOptions options{cache_dir, true, 1};
    for (const auto& spec : repo_specs(recipe)) {
        if (spec.type != "rpm-md") continue;
        if (!spec.gpgcheck) {
            result.all_checked = false;
            continue;
        }
        result.keys.push_back(key_path(options, spec));
    }
    return result;
}

DebianExtras parse_debian_extras(std::string_view packages) {
    DebianExtras extras;
    deb822::for_each_paragraph(packages, [&](const deb822::Paragraph& paragraph) {
        std::string_view name = deb822::field(paragraph, "Package");
        if (name.empty()) return;
        if (deb822::field(paragraph, "Essential") == "yes") extras.essential.emplace(name);
        std::string_view priority = deb822::field(paragraph, "Priority");
        if (!priority.empty() && priority != "optional") extras.priority.emplace(name, priority);
        std::string_view size = deb822::field(paragraph, "Size");
        extras.sizes.emplace_back(name, size.empty() ? 0 : std::strtoull(std::string(size).c_str(), nullptr, 10));
    });
    return extras;
}

} // namespace imgbuild::resolve
