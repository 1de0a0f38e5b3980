// The inputs of a build and what its commit records of them. The digest of the inputs decides whether
// a new commit is needed; the install settings and the package lines key the tree cache; the commit
// metadata (the keys of imgbuild/commit/metadata.hpp) lets the later commands work from the commit alone.

#include "inputs.hpp"

#include <fmt/format.h>

#include "imgbuild/commit/metadata.hpp"
#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/image/settings.hpp"
#include "imgbuild/resolve/resolve.hpp"
#include "imgbuild/version.hpp"

namespace imgbuild::pipeline {

namespace fs = std::filesystem;

using json = nlohmann::json;

namespace {

// Bump when the install stage makes other trees from the same inputs.
constexpr int install_cache_version = 2;

std::string lock_digest(const resolve::Lock& lock) { return "sha256:" + sha256_hex(resolve::lock_text(lock)); }

} // namespace

json package_lines(const resolve::Lock& lock) {
    json lines = json::array();
    for (const auto& package : lock.packages)
        lines.push_back(
            fmt::format("{} {} {} {}", package.name, package.version, package.arch, package.checksum.str()));
    return lines;
}

json build_inputs(const recipe::Recipe& recipe, const resolve::Lock& lock) {
    json inputs = {{"recipe", recipe.canonical_json()},
                   {"imgbuild", fmt::format("{} {}", version, git_revision)},
                   {"files", json::array()}};
    inputs["packages"] = package_lines(lock);
    auto base = fs::absolute(recipe.path()).parent_path().lexically_normal();
    for (const auto& path : recipe.input_paths())
        inputs["files"].push_back({path.lexically_relative(base).string(), tree_digest(path)});
    return inputs;
}

std::string build_inputs_digest(const recipe::Recipe& recipe, const resolve::Lock& lock) {
    return BuildInputs::of(recipe, lock).digest;
}

BuildInputs BuildInputs::of(const recipe::Recipe& recipe, const resolve::Lock& lock) {
    nlohmann::json inputs = build_inputs(recipe, lock);
    std::string digest = "sha256:" + sha256_hex(inputs.dump());
    return {std::move(inputs), std::move(digest)};
}

json install_settings(const resolve::Lock& lock, const install::InstallOptions& options) {
    json inputs = {{"version", install_cache_version},
                   {"imgbuild", fmt::format("{} {}", version, git_revision)},
                   {"format", lock.format},
                   {"arch", lock.arch},
                   {"docs", options.docs},
                   {"rpm-dbpath", options.rpm_dbpath},
                   {"rpm-signatures", options.rpm_require_signatures},
                   {"rpm-keys", json::array()}};
    for (const auto& key : options.rpm_keys) inputs["rpm-keys"].push_back(sha256_hex(read_file(key)));
    return inputs;
}

std::string install_key(const resolve::Lock& lock, const install::InstallOptions& options) {
    json inputs = install_settings(lock, options);
    inputs["packages"] = package_lines(lock);
    return sha256_hex(inputs.dump());
}

std::optional<commit::SigningKey> signing_key(const recipe::Recipe& recipe) {
    auto pointer = json::json_pointer("/ostree/sign/ed25519-key");
    if (!recipe.json().contains(pointer)) return std::nullopt;
    try {
        return commit::read_signing_key(recipe.json().at(pointer).get<std::string>());
    } catch (const commit::KeyError& e) {
        throw RecipeError({{recipe.sources().value(pointer), e.what()}});
    }
}

commit::CommitOptions commit_options(const recipe::Recipe& recipe, const resolve::Lock& lock, const BuildInputs& inputs,
                                     const CommitFacts& facts) {
    namespace key = commit::key;
    const json& document = recipe.json();
    commit::CommitOptions options;
    options.ref = facts.ref;
    options.subject = fmt::format("{} {}", recipe.name(), facts.version);
    options.timestamp = lock.source_date_epoch;
    options.version = facts.version;
    options.kernel_version = facts.kernel_version;
    auto set = [&](std::string_view name, std::string value) {
        options.metadata[std::string(name)] = std::move(value);
    };
    set(key::recipe, recipe.name());
    set(key::recipe_digest, resolve::recipe_digest(recipe));
    set(key::lock_digest, lock_digest(lock));
    set(key::inputs_digest, inputs.digest);
    set(key::inputs, inputs.json.dump());
    set(key::format, lock.format);
    set(key::arch, lock.arch);
    set(key::tool, fmt::format("imgbuild {} (git {})", version, git_revision));
    set(key::ref, facts.ref);
    // What the image stage needs of the recipe and the lock travels with the commit, so `imgbuild image`
    // works from a repository and a ref alone. The node's verification key: the recipe's public key,
    // else the public half of the signing key.
    std::optional<std::string> public_key;
    if (facts.key) public_key = facts.key->public_base64();
    set(key::image, json(image::settings_of(recipe, public_key)).dump());
    set(key::lock, resolve::lock_text(lock));
    for (const auto& package : lock.packages)
        options.packages.push_back(fmt::format("{} {} {}", package.name, package.version, package.arch));
    options.sign = facts.key;
    options.static_delta = document.contains("ostree") && document["ostree"].value("static-delta", false);
    return options;
}

// What changed since the last build on the ref (why a stage cannot reuse what it made then), noted
// with the resolve stage's line.
InputChanges changes_since(const std::optional<commit::CommitInfo>& head, const BuildInputs& inputs,
                           const resolve::Lock& lock, const Context& context) {
    InputChanges changes;
    changes.first = true;
    if (head) {
        auto recorded = head->metadata.find(std::string(commit::key::inputs));
        if (recorded != head->metadata.end())
            changes = compare_inputs(json::parse(recorded->second, nullptr, false), inputs.json);
    }
    note(context, "resolve", "ran",
         fmt::format("{} packages{}", lock.packages.size(),
                     changes.first              ? ""
                     : changes.packages.empty() ? ", the same as the last build"
                                                : ", changed since the last build: " + changes.describe_packages()));
    return changes;
}

// The ref's head when it was built from the same inputs: nothing to build (unless --force).
std::optional<CommitOutcome> unchanged_head(const std::optional<commit::CommitInfo>& head, const std::string& ref,
                                            const BuildInputs& inputs, bool force, const Context& context) {
    if (!head || force) return std::nullopt;
    auto it = head->metadata.find(std::string(commit::key::inputs_digest));
    if (it == head->metadata.end() || it->second != inputs.digest) return std::nullopt;
    log::info("unchanged: {} is already {} (version {}), built from the same inputs", ref, head->checksum,
              head->version);
    note(context, "commit", "reused",
         fmt::format("{} (version {}) was built from the same inputs", head->checksum.substr(0, 12), head->version));
    return CommitOutcome{head->checksum, head->parent, ref, head->version, true};
}

} // namespace imgbuild::pipeline
