// The lockfile as JSON: nlohmann's default object type keeps keys sorted and packages are sorted by
// name and arch, so the same set always gives the same bytes. Reading reports every missing or
// mistyped field with the file's name; JSON syntax errors with line and column.

#include "imgbuild/resolve/lock.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "wrap/solv.hpp"

namespace imgbuild::resolve {
namespace {

using json = nlohmann::json;

json checksum_json(const Checksum& checksum) { return checksum.str(); }

std::optional<Checksum> parse_checksum(const std::string& text) {
    auto colon = text.find(':');
    if (colon == std::string::npos) return std::nullopt;
    auto type = digest_type(text.substr(0, colon));
    std::string hex = text.substr(colon + 1);
    if (!type || hex.empty() || hex.find_first_not_of("0123456789abcdef") != std::string::npos) return std::nullopt;
    return Checksum{*type, hex};
}

// Reads fields of a lock's JSON, collecting what is missing or mistyped instead of stopping at the first.
class Reader {
public:
    explicit Reader(std::string file) : m_file(std::move(file)) {}

    template <class T>
    T get(const json& object, const std::string& key, const std::string& where, T fallback = T{},
          bool required = true) {
        if (!object.is_object() || !object.contains(key)) {
            if (required) report(fmt::format("{} has no '{}'", where, key));
            return fallback;
        }
        try {
            return object.at(key).get<T>();
        } catch (const json::exception&) {
            report(fmt::format("'{}' of {} has the wrong type: {}", key, where, object.at(key).dump()));
            return fallback;
        }
    }

    Checksum checksum(const json& object, const std::string& key, const std::string& where) {
        std::string text = get<std::string>(object, key, where);
        auto checksum = parse_checksum(text);
        if (!checksum && !text.empty())
            report(fmt::format("'{}' of {} is not a checksum such as sha256:<hex>: '{}'", key, where, text));
        return checksum.value_or(Checksum{});
    }

    void report(std::string message) { m_diagnostics.push_back({Location{m_file, 0, 0}, std::move(message)}); }
    void finish() {
        if (!m_diagnostics.empty()) throw RecipeError(std::move(m_diagnostics));
    }

private:
    std::string m_file;
    std::vector<Diagnostic> m_diagnostics;
};

std::pair<std::string, std::string> key_of(const LockedPackage& package) { return {package.name, package.arch}; }

} // namespace

const LockedPackage* Lock::find(const std::string& name) const {
    auto it = std::find_if(packages.begin(), packages.end(), [&](const LockedPackage& p) { return p.name == name; });
    return it == packages.end() ? nullptr : &*it;
}

json Lock::to_json() const {
    json repo_list = json::array();
    for (const auto& repo : repos) {
        json metadata = json::array();
        for (const auto& file : repo.metadata)
            metadata.push_back({{"path", file.path}, {"checksum", checksum_json(file.checksum)}, {"size", file.size}});
        json entry = {{"name", repo.name},
                      {"type", repo.type},
                      {"url", repo.url},
                      {"priority", repo.priority},
                      {"metadata", metadata}};
        if (!repo.suite.empty()) entry["suite"] = repo.suite;
        if (!repo.components.empty()) entry["components"] = repo.components;
        if (!repo.include_packages.empty()) entry["include-packages"] = repo.include_packages;
        repo_list.push_back(std::move(entry));
    }
    json package_list = json::array();
    for (const auto& package : packages) {
        json entry = {{"name", package.name}, {"version", package.version},
                      {"arch", package.arch}, {"repo", package.repo},
                      {"url", package.url},   {"checksum", checksum_json(package.checksum)},
                      {"size", package.size}, {"installed-size", package.installed_size}};
        if (package.epoch) entry["epoch"] = *package.epoch;
        if (package.upstream_version) entry["upstream-version"] = *package.upstream_version;
        if (package.release) entry["release"] = *package.release;
        if (package.essential) entry["essential"] = true;
        if (package.bootstrap) entry["bootstrap"] = true;
        if (!package.priority.empty()) entry["priority"] = package.priority;
        package_list.push_back(std::move(entry));
    }
    return {
        {"lock-version", version},
        {"recipe", {{"name", recipe_name}, {"digest", recipe_digest}, {"inputs-digest", inputs_digest}}},
        {"format", format},
        {"arch", arch},
        {"source-date-epoch", source_date_epoch},
        {"repos", repo_list},
        {"packages", package_list},
    };
}

std::string lock_text(const Lock& lock) { return lock.to_json().dump(2) + "\n"; }

void write_lock(const Lock& lock, const std::filesystem::path& path) { write_file_atomic(path, lock_text(lock)); }

Lock lock_from_json(const json& document, const std::string& file) {
    Reader reader(file);
    Lock lock;
    if (!document.is_object()) {
        reader.report("a lockfile is a JSON object");
        reader.finish();
    }
    lock.version = reader.get<int>(document, "lock-version", "the lock");
    if (lock.version != Lock::current_version && lock.version != 0)
        reader.report(fmt::format("lock-version {} is not one this imgbuild reads (it reads {})", lock.version,
                                  Lock::current_version));
    json recipe = document.value("recipe", json::object());
    lock.recipe_name = reader.get<std::string>(recipe, "name", "'recipe'");
    lock.recipe_digest = reader.get<std::string>(recipe, "digest", "'recipe'");
    lock.inputs_digest = reader.get<std::string>(recipe, "inputs-digest", "'recipe'");
    lock.format = reader.get<std::string>(document, "format", "the lock");
    lock.arch = reader.get<std::string>(document, "arch", "the lock");
    lock.source_date_epoch = reader.get<std::int64_t>(document, "source-date-epoch", "the lock");
    json repos = reader.get<json>(document, "repos", "the lock", json::array());
    for (std::size_t i = 0; i < repos.size(); ++i) {
        std::string where = fmt::format("repos[{}]", i);
        const json& entry = repos[i];
        LockedRepo repo;
        repo.name = reader.get<std::string>(entry, "name", where);
        repo.type = reader.get<std::string>(entry, "type", where);
        repo.url = reader.get<std::string>(entry, "url", where);
        repo.suite = reader.get<std::string>(entry, "suite", where, "", false);
        repo.components = reader.get<std::vector<std::string>>(entry, "components", where, {}, false);
        repo.priority = reader.get<int>(entry, "priority", where, 500, false);
        repo.include_packages = reader.get<std::vector<std::string>>(entry, "include-packages", where, {}, false);
        json metadata = reader.get<json>(entry, "metadata", where, json::array(), false);
        for (std::size_t j = 0; j < metadata.size(); ++j) {
            std::string at = fmt::format("{}.metadata[{}]", where, j);
            repo.metadata.push_back(LockedMetadata{reader.get<std::string>(metadata[j], "path", at),
                                                   reader.checksum(metadata[j], "checksum", at),
                                                   reader.get<std::uint64_t>(metadata[j], "size", at, 0, false)});
        }
        lock.repos.push_back(std::move(repo));
    }
    json packages = reader.get<json>(document, "packages", "the lock", json::array());
    for (std::size_t i = 0; i < packages.size(); ++i) {
        const json& entry = packages[i];
        std::string where = fmt::format(
            "packages[{}]{}", i, entry.is_object() && entry.contains("name") ? " (" + entry["name"].dump() + ")" : "");
        LockedPackage package;
        package.name = reader.get<std::string>(entry, "name", where);
        package.version = reader.get<std::string>(entry, "version", where);
        package.arch = reader.get<std::string>(entry, "arch", where);
        package.repo = reader.get<std::string>(entry, "repo", where);
        package.url = reader.get<std::string>(entry, "url", where);
        package.checksum = reader.checksum(entry, "checksum", where);
        package.size = reader.get<std::uint64_t>(entry, "size", where);
        package.installed_size = reader.get<std::uint64_t>(entry, "installed-size", where, 0, false);
        if (entry.is_object() && entry.contains("epoch"))
            package.epoch = reader.get<std::int64_t>(entry, "epoch", where);
        if (entry.is_object() && entry.contains("upstream-version"))
            package.upstream_version = reader.get<std::string>(entry, "upstream-version", where);
        if (entry.is_object() && entry.contains("release"))
            package.release = reader.get<std::string>(entry, "release", where);
        package.essential = reader.get<bool>(entry, "essential", where, false, false);
        package.bootstrap = reader.get<bool>(entry, "bootstrap", where, false, false);
        package.priority = reader.get<std::string>(entry, "priority", where, "", false);
        lock.packages.push_back(std::move(package));
    }
    reader.finish();
    return lock;
}

Lock read_lock(const std::filesystem::path& path) {
    std::string reason;
    std::string file = readable_path(path);
    auto text = try_read_file(path, reason);
    if (!text) throw RecipeError({{Location{file, 0, 0}, fmt::format("cannot read the lockfile: {}", reason)}});
    json document;
    try {
        document = json::parse(*text);
    } catch (const json::parse_error& e) {
        // nlohmann names the byte; people and editors want line and column.
        std::size_t byte = std::min<std::size_t>(e.byte == 0 ? 0 : e.byte - 1, text->size());
        int line =
            1 + static_cast<int>(std::count(text->begin(), text->begin() + static_cast<std::ptrdiff_t>(byte), '\n'));
        auto line_start = text->rfind('\n', byte == 0 ? 0 : byte - 1);
        int column = static_cast<int>(byte - (line_start == std::string::npos || byte == 0 ? 0 : line_start + 1)) + 1;
        std::string what = e.what();
        what = what.substr(what.find("syntax error"));
        throw RecipeError({{Location{file, line, column}, "invalid JSON: " + what}});
    }
    return lock_from_json(document, file);
}

LockDiff diff_locks(const Lock& before, const Lock& after) {
    wrap::PoolPtr pool(pool_create());
    pool_setdisttype(pool.get(),
                     (after.format.empty() ? before.format : after.format) == "rpm" ? DISTTYPE_RPM : DISTTYPE_DEB);
    std::map<std::pair<std::string, std::string>, const LockedPackage*> old_packages, new_packages;
    for (const auto& package : before.packages) old_packages[key_of(package)] = &package;
    for (const auto& package : after.packages) new_packages[key_of(package)] = &package;
    LockDiff diff;
    for (const auto& [key, old_package] : old_packages) {
        auto it = new_packages.find(key);
        if (it == new_packages.end()) {
            diff.removed.push_back({key.first, key.second, old_package->version, ""});
            continue;
        }
        const LockedPackage* new_package = it->second;
        PackageChange change{key.first, key.second, old_package->version, new_package->version};
        int order =
            pool_evrcmp_str(pool.get(), old_package->version.c_str(), new_package->version.c_str(), EVRCMP_COMPARE);
        if (order < 0)
            diff.upgraded.push_back(change);
        else if (order > 0)
            diff.downgraded.push_back(change);
        else if (old_package->checksum != new_package->checksum)
            diff.changed.push_back(change);
    }
    for (const auto& [key, new_package] : new_packages)
        if (!old_packages.count(key)) diff.added.push_back({key.first, key.second, "", new_package->version});
    return diff;
}

std::string format_diff(const LockDiff& diff) {
    std::string text;
    auto section = [&](const char* title, const std::vector<PackageChange>& changes, bool both) {
        for (const auto& change : changes) {
            if (both)
                text += fmt::format("{:<11} {} {} → {} ({})\n", title, change.name, change.old_version,
                                    change.new_version, change.arch);
            else
                text += fmt::format("{:<11} {} {} ({})\n", title, change.name,
                                    change.new_version.empty() ? change.old_version : change.new_version, change.arch);
        }
    };
    section("added", diff.added, false);
    section("removed", diff.removed, false);
    section("upgraded", diff.upgraded, true);
    section("downgraded", diff.downgraded, true);
    section("rebuilt", diff.changed, true);
    return text;
}

} // namespace imgbuild::resolve
