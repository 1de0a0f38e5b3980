// Loading package lists into libsolv. Parsing Debian's bullseye main list takes most of a second; the
// .solv file libsolv writes of it loads in tens of milliseconds, so every list is cached as .solv under
// the digest of its content and the libsolv version (a new libsolv may change the format). Beside it,
// X.solv.json records the .solv's own sha256 and the Debian fields libsolv drops (with their digest):
// a .solv or a record that changed since is parsed again from the list, never loaded.

#include "pool.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/download.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"

namespace imgbuild::resolve {
namespace {

namespace fs = std::filesystem;

// Bump when what imgbuild stores in its caches changes.
constexpr int cache_format = 2;

fs::path solv_path(const MetadataOptions& options, const MetadataFile& file) {
    return options.cache_dir / "solv" /
           fmt::format("{}-v{}-libsolv{}.solv", file.checksum.hex, cache_format, solv_version);
}

fs::path record_path(const fs::path& solv) { return fs::path(solv.string() + ".json"); }

// The record of a .solv: its sha256, and the Debian extras with the sha256 of their text.
nlohmann::json solv_record(const std::string& solv, const nlohmann::json& extras) {
    return {{"solv-sha256", sha256_hex(solv)}, {"extras-sha256", sha256_hex(extras.dump())}, {"extras", extras}};
}

// The cached .solv's bytes and extras, when both are what their record says; else nullopt.
std::optional<std::pair<std::string, nlohmann::json>> read_cached_solv(const fs::path& solv, bool& damaged) {
    damaged = false;
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(solv, ec))) return std::nullopt;
    std::string reason;
    auto text = try_read_file(record_path(solv), reason);
    auto record = text ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
    damaged = true;
    if (!record.is_object() || !record.value("solv-sha256", nlohmann::json()).is_string() ||
        !record.value("extras-sha256", nlohmann::json()).is_string() || !record.contains("extras") ||
        !record["extras"].is_object() || sha256_hex(record["extras"].dump()) != record["extras-sha256"])
        return std::nullopt;
    // Read as a regular file, not through a link put in its place.
    Fd file(::open(solv.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    struct stat info {};
    if (!file || ::fstat(file.get(), &info) != 0 || !S_ISREG(info.st_mode)) return std::nullopt;
    std::string bytes(static_cast<std::size_t>(info.st_size), '\0');
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::read(file.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return std::nullopt;
        done += static_cast<std::size_t>(n);
    }
    if (sha256_hex(bytes) != record["solv-sha256"]) return std::nullopt;
    damaged = false;
    return std::pair{std::move(bytes), record["extras"]};
}

// The decompressed content of a cached package list.
std::string decompress(const fs::path& path) {
    wrap::File file(solv_xfopen(path.c_str(), "r"));
    if (!file) throw FetchError("Failed to open the package list '{}'", path.string());
    std::string content;
    char buffer[1 << 16];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0;) content.append(buffer, n);
    if (std::ferror(file.get()))
        throw FetchError("Failed to decompress the package list '{}' (is it corrupt?)", path.string());
    return content;
}

// Writes the .solv and then its record (the record last: a .solv without one is never loaded).
void write_solv(Repo* repo, const fs::path& path, const nlohmann::json& extras) {
    char* buffer = nullptr;
    std::size_t size = 0;
    std::string bytes;
    {
        wrap::File stream(open_memstream(&buffer, &size));
        if (!stream || repo_write(repo, stream.get()) != 0 || std::fflush(stream.get()) != 0) {
            log::warn("cannot cache '{}': {}", path.string(), pool_errstr(repo->pool));
            stream.reset();
            std::free(buffer);
            return;
        }
        stream.reset();
        bytes.assign(buffer, size);
        std::free(buffer);
    }
    std::error_code ec;
    fs::remove(record_path(path), ec);
    write_file_atomic(path, bytes);
    write_file_atomic(record_path(path), solv_record(bytes, extras).dump());
}

} // namespace

PackagePool::PackagePool(const std::string& format, const std::string& arch) : m_pool(pool_create()), m_format(format) {
    pool_setdisttype(m_pool.get(), format == "deb" ? DISTTYPE_DEB : DISTTYPE_RPM);
    pool_setarch(m_pool.get(), format == "deb" ? (arch == "x86_64" ? "amd64" : arch.c_str()) : arch.c_str());
}

void PackagePool::add(const RepoMetadata& repo, const MetadataOptions& options) {
    m_repos.push_back(&repo);
    for (const auto& file : repo.files)
        if (file.kind == "packages" || file.kind == "primary") load_list(repo, file, options);
    restrict_to_included(repo);
}

// include-packages: the repo's other packages leave the pool (the cached .solv keeps the whole list, so
// a changed pattern needs no new parse). A pattern that keeps nothing is a recipe error at its line: a
// pin that pins nothing would let the solver take the package from another repo without a word.
void PackagePool::restrict_to_included(const RepoMetadata& repo) {
    const auto& patterns = repo.spec.include_packages;
    if (patterns.empty()) return;
    std::vector<bool> matched(patterns.size(), false);
    std::size_t index = m_repos.size() - 1;
    for (int r = 1; r < m_pool->nrepos; ++r) {
        Repo* solv_repo = m_pool->repos[r];
        if (!solv_repo || reinterpret_cast<std::size_t>(solv_repo->appdata) != index) continue;
        for (Id id = solv_repo->start; id < solv_repo->end; ++id) {
            const Solvable* solvable = &m_pool->solvables[id];
            if (solvable->repo != solv_repo) continue;
            const char* name = pool_id2str(m_pool.get(), solvable->name);
            bool keep = false;
            for (std::size_t i = 0; i < patterns.size(); ++i)
                if (::fnmatch(patterns[i].first.c_str(), name, 0) == 0) keep = matched[i] = true;
            if (!keep) repo_free_solvable(solv_repo, id, 0);
        }
    }
    std::vector<Diagnostic> unmatched;
    for (std::size_t i = 0; i < patterns.size(); ++i)
        if (!matched[i])
            unmatched.push_back(
                {patterns[i].second, fmt::format("include-packages: '{}' matches no package of repo '{}'",
                                                 patterns[i].first, repo.spec.name)});
    if (!unmatched.empty()) throw RecipeError(std::move(unmatched));
}

void PackagePool::load_list(const RepoMetadata& repo, const MetadataFile& file, const MetadataOptions& options) {
    Repo* solv_repo = repo_create(m_pool.get(), repo.spec.name.c_str());
    solv_repo->priority = repo.spec.priority;
    solv_repo->appdata = reinterpret_cast<void*>(m_repos.size() - 1);
    fs::path cached = solv_path(options, file);

    bool damaged = false;
    if (auto solv = read_cached_solv(cached, damaged)) {
        auto& [bytes, json] = *solv;
        wrap::File in(fmemopen(bytes.data(), bytes.size(), "r"));
        if (in && repo_add_solv(solv_repo, in.get(), 0) == 0) {
            try {
                for (const auto& name : json.value("essential", std::vector<std::string>{})) m_essential.insert(name);
                if (json.contains("priority"))
                    for (const auto& [name, priority] : json.at("priority").items())
                        m_priority.emplace(name, priority.get<std::string>());
            } catch (const nlohmann::json::exception& e) {
                throw FetchError("Failed to read the cache file '{}': {}", record_path(cached).string(), e.what());
            }
            log::debug("repo '{}': {} packages from {}", repo.spec.name, solv_repo->nsolvables,
                       cached.filename().string());
            return;
        }
        damaged = true;
        repo_empty(solv_repo, 1);
    }
    if (damaged)
        log::warn("discarding the cached package index '{}': it no longer matches the digest recorded when it was "
                  "made (it is made again from the package list)",
                  cached.string());

    std::string content = decompress(file.cached);
    nlohmann::json saved_extras = nlohmann::json::object();
    if (m_format == "deb") {
        DebianExtras extras = parse_debian_extras(content);
        wrap::File stream(fmemopen(content.data(), content.size(), "r"));
        if (repo_add_debpackages(solv_repo, stream.get(), REPO_NO_INTERNALIZE) != 0)
            throw FetchError("Failed to read repo '{}' {}: {}", repo.spec.name, file.path, pool_errstr(m_pool.get()));
        // libsolv adds one solvable per paragraph, in order: give each its download size.
        Repodata* data = repo_last_repodata(solv_repo);
        std::size_t index = 0;
        for (Id id = solv_repo->start; id < solv_repo->end && index < extras.sizes.size(); ++id, ++index) {
            if (m_pool->solvables[id].repo != solv_repo) continue;
            if (pool_id2str(m_pool.get(), m_pool->solvables[id].name) != extras.sizes[index].first)
                throw FetchError("Failed to read repo '{}' {}: package {} is out of order", repo.spec.name, file.path,
                                 index);
            repodata_set_num(data, id, SOLVABLE_DOWNLOADSIZE, extras.sizes[index].second);
        }
        m_essential.insert(extras.essential.begin(), extras.essential.end());
        m_priority.insert(extras.priority.begin(), extras.priority.end());
        saved_extras = {{"essential", extras.essential}, {"priority", extras.priority}};
    } else {
        wrap::File stream(fmemopen(content.data(), content.size(), "r"));
        if (repo_add_rpmmd(solv_repo, stream.get(), nullptr, 0) != 0)
            throw FetchError("Failed to read repo '{}' {}: {}", repo.spec.name, file.path, pool_errstr(m_pool.get()));
    }
    if (solv_repo->nsolvables == 0)
        throw FetchError("Failed to read repo '{}' {}: it lists no packages (a corrupt or truncated file?)",
                         repo.spec.name, file.path);
    repo_internalize(solv_repo);
    write_solv(solv_repo, cached, saved_extras);
    log::debug("repo '{}': parsed {} packages from {}", repo.spec.name, solv_repo->nsolvables, file.path);
}

void PackagePool::prepare(const MetadataOptions& options) {
    wrap::Queue needed, needed_installed;
    pool_addfileprovides_queue(m_pool.get(), needed.get(), needed_installed.get());
    pool_createwhatprovides(m_pool.get());
    bool missing = false;
    for (Id file : needed.ids())
        if (!m_pool->whatprovidesdata[pool_whatprovides(m_pool.get(), file)]) missing = true;
    if (!missing) return;

    // A file dependency the primary lists do not provide: load the full file lists of rpm-md repos.
    for (const auto* metadata : m_repos) {
        std::vector<const MetadataFile*> filelists;
        for (const auto& file : metadata->files)
            if (file.kind == "filelists") filelists.push_back(&file);
        if (filelists.empty()) continue;
        fetch_files(*metadata, filelists, options);
        for (int index = 1; index < m_pool->nrepos; ++index) {
            Repo* repo = m_pool->repos[index];
            if (!repo || m_repos[reinterpret_cast<std::size_t>(repo->appdata)] != metadata) continue;
            for (const auto* file : filelists) {
                std::string content = decompress(file->cached);
                wrap::File stream(fmemopen(content.data(), content.size(), "r"));
                if (repo_add_rpmmd(repo, stream.get(), "FL", REPO_EXTEND_SOLVABLES) != 0)
                    throw FetchError("Failed to read repo '{}' {}: {}", metadata->spec.name, file->path,
                                     pool_errstr(m_pool.get()));
                log::debug("repo '{}': loaded {} for file dependencies", metadata->spec.name, file->path);
            }
            repo_internalize(repo);
        }
    }
    pool_addfileprovides(m_pool.get());
    pool_createwhatprovides(m_pool.get());
}

const RepoMetadata& PackagePool::repo_of(Id solvable) const {
    return *m_repos[reinterpret_cast<std::size_t>(m_pool->solvables[solvable].repo->appdata)];
}

int PackagePool::priority_rank(const std::string& package) const {
    static const std::map<std::string, int> ranks = {
        {"required", 5}, {"important", 4}, {"standard", 3}, {"optional", 2}, {"extra", 1}};
    auto it = m_priority.find(package);
    if (it == m_priority.end()) return 2;
    auto rank = ranks.find(it->second);
    return rank == ranks.end() ? 2 : rank->second;
}

std::string PackagePool::priority(const std::string& package) const {
    auto it = m_priority.find(package);
    return it == m_priority.end() ? std::string{} : it->second;
}

std::string PackagePool::name(Id solvable) const { return pool_id2str(m_pool.get(), m_pool->solvables[solvable].name); }

std::string PackagePool::describe(Id solvable) const {
    const Solvable* s = &m_pool->solvables[solvable];
    return fmt::format("{} {} ({})", pool_id2str(m_pool.get(), s->name), pool_id2str(m_pool.get(), s->evr),
                       pool_id2str(m_pool.get(), s->arch));
}

} // namespace imgbuild::resolve
