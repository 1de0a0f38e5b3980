#pragma once
// What a build is made from and what its commit records: the build inputs and their digest, the
// install settings (the tree cache's key), and the commit's options and metadata. Pure but for reading
// the files the recipe names.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "imgbuild/commit/commit.hpp"
#include "imgbuild/pipeline/pipeline.hpp"

namespace imgbuild::pipeline {

// "name version arch checksum" per locked package: what the inputs and the install key hash.
nlohmann::json package_lines(const resolve::Lock& lock);

// A build's inputs (build_inputs) and their digest, computed once.
struct BuildInputs {
    nlohmann::json json; // {recipe, files, packages, imgbuild}
    std::string digest;  // "sha256:" + sha256 of json.dump(): build_inputs_digest
    static BuildInputs of(const recipe::Recipe& recipe, const resolve::Lock& lock);
};

// What the install reads besides the packages (format, arch, docs, rpm settings and keys, imgbuild's
// version). The lock's repository dates (SOURCE_DATE_EPOCH) are left out, as from the build inputs.
nlohmann::json install_settings(const resolve::Lock& lock, const install::InstallOptions& options);

// The recipe's ostree signing key (ostree.sign.ed25519-key), read now: a bad one fails before minutes
// of building, as a recipe error naming its line.
std::optional<commit::SigningKey> signing_key(const recipe::Recipe& recipe);

// The commit of a build: what it is made of and what its metadata records (the commit::key entries)
// for the reuse check, `imgbuild image`, `test` and `diff`.
struct CommitFacts {
    std::string ref;
    std::string version;
    std::string kernel_version;
    std::optional<commit::SigningKey> key;
};
commit::CommitOptions commit_options(const recipe::Recipe& recipe, const resolve::Lock& lock, const BuildInputs& inputs,
                                     const CommitFacts& facts);

// What changed since `head`, the last build on the ref, from the inputs it recorded (first when none):
// why a stage cannot reuse what it made then. Noted with the resolve stage's line.
InputChanges changes_since(const std::optional<commit::CommitInfo>& head, const BuildInputs& inputs,
                           const resolve::Lock& lock, const Context& context);

// `head` as the outcome when it was built from the same inputs: nothing to build (unless `force`).
std::optional<CommitOutcome> unchanged_head(const std::optional<commit::CommitInfo>& head, const std::string& ref,
                                            const BuildInputs& inputs, bool force, const Context& context);

} // namespace imgbuild::pipeline
