#pragma once
// The recipe stage: YAML files with include: chains and ${variables} → one merged, validated recipe
// as JSON, with the file, line and column of every value kept for later error messages.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "imgbuild/recipe/source_map.hpp"

namespace imgbuild::recipe {

struct LoadOptions {
    // NAME=VALUE from --set, in command-line order: a variable when the recipe declares or uses NAME,
    // else a dotted recipe path (version, image.size) whose value VALUE replaces.
    std::vector<std::string> set;
    // Where the host's apt sources are read for the built-in ${debian_mirror} variables.
    std::filesystem::path apt_dir = "/etc/apt";
};

class Recipe {
public:
    Recipe(nlohmann::json document, SourceMap sources, std::filesystem::path path,
           std::vector<std::filesystem::path> files);

    // The merged recipe: include: resolved, variables expanded, x-path values absolute.
    const nlohmann::json& json() const { return m_json; }
    const SourceMap& sources() const { return m_sources; }
    // The file the recipe was loaded from, as given.
    const std::filesystem::path& path() const { return m_path; }
    // Every recipe file read (absolute): the recipe itself first, then its includes in merge order.
    const std::vector<std::filesystem::path>& files() const { return m_files; }
    // A profile is a fragment meant for include: (it has no name), not a recipe to build.
    bool is_profile() const { return !m_json.contains("name"); }

    // The values several stages read, each with its default in this one place (the rest of the
    // recipe is read by the one stage it concerns, through json()).
    // name: ("" for a profile).
    std::string name() const;
    // arch: ("x86_64").
    std::string arch() const;
    // version: the pattern of the builds' versions ("{date}.{n}").
    std::string version_pattern() const;
    // docs: (true).
    bool docs() const;
    // Whether the recipe names a kernel package (kernel.package): the tree is then bootable.
    bool has_kernel() const;
    // The ostree ref its commits go on: ostree.ref, else imgbuild/<name>/<arch>.
    std::string ref() const;
    // The recipe with its paths relative to the recipe file's directory, so digests of it do not depend
    // on where a checkout lives.
    nlohmann::json canonical_json() const;
    // The local files and directories the recipe names (x-path values: overlays, files' sources,
    // scripts, keys, kernel config fragments), absolute, in document order. A build's output depends
    // on their contents as much as on the recipe's text.
    std::vector<std::filesystem::path> input_paths() const;

private:
    nlohmann::json m_json;
    SourceMap m_sources;
    std::filesystem::path m_path;
    std::vector<std::filesystem::path> m_files;
};

// The package a packages:/exclude:/prefer: spec names: "containerd", "linux-image-5.10*" or the name
// before a version constraint ("systemd >= 247" → "systemd"), as the schema's package-spec allows.
std::string package_name(std::string_view spec);

// Loads, merges and validates. Throws RecipeError with every finding (FILE:LINE:COL: message).
Recipe load(const std::filesystem::path& path, const LoadOptions& options = {});

// The recipe's JSON Schema (schema/recipe.schema.json), as built into the binary.
std::string_view schema();

} // namespace imgbuild::recipe
