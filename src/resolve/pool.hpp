#pragma once
// The libsolv pool of every package the recipe's repos offer, loaded from .solv caches when the
// package lists were seen before, and the Debian facts libsolv does not keep (Essential, Priority).

#include <map>
#include <set>
#include <string>
#include <vector>

#include "metadata.hpp"
#include "wrap/solv.hpp"

namespace imgbuild::resolve {

class PackagePool {
public:
    // format: deb or rpm; arch: x86_64 (the recipe's).
    PackagePool(const std::string& format, const std::string& arch);

    // Adds a repo's package lists (each from its .solv cache, or parsed and then cached).
    void add(const RepoMetadata& repo, const MetadataOptions& options);
    // Makes dependencies searchable. rpm-md filelists are fetched and loaded first when a file
    // dependency names a path that the primary lists do not provide.
    void prepare(const MetadataOptions& options);

    ::Pool* get() const { return m_pool.get(); }
    const std::string& format() const { return m_format; }
    const RepoMetadata& repo_of(Id solvable) const;
    bool essential(const std::string& name) const { return m_essential.count(name) > 0; }
    const std::set<std::string>& essential_names() const { return m_essential; }
    // Debian's Priority of a package name: 5 required, 4 important, 3 standard, 2 optional, 1 extra.
    int priority_rank(const std::string& name) const;
    std::string priority(const std::string& name) const;

    std::string name(Id solvable) const;
    // "name version (arch)" for messages.
    std::string describe(Id solvable) const;

private:
    void load_list(const RepoMetadata& repo, const MetadataFile& file, const MetadataOptions& options);
    void restrict_to_included(const RepoMetadata& repo);

    wrap::PoolPtr m_pool;
    std::string m_format;
    std::vector<const RepoMetadata*> m_repos; // Repo::appdata indexes this
    std::set<std::string> m_essential;
    std::map<std::string, std::string> m_priority;
};

} // namespace imgbuild::resolve
