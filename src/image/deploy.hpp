#pragma once
// The sysroot of a disk image: the commit deployed with libostree's sysroot API, as `ostree admin
// init-fs`, `os-init` and `deploy` would, but inside a user namespace (docs/design.md §5: deploying
// FIFREEZEs the filesystem holding the sysroot, which for a directory is the build host's root).

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace imgbuild::image {

struct Remote {
    std::string name;
    std::string url;
    std::string ed25519_public_key; // base64; empty: commits are not verified
};

struct DeploySpec {
    std::filesystem::path sysroot;     // an empty directory
    std::filesystem::path source_repo; // where the commit is pulled from
    std::string checksum;
    std::string ref;
    std::string osname;
    std::vector<std::string> kernel_args; // root=UUID=… included
    std::optional<Remote> remote;         // the node's remote; the origin is then REMOTE:REF

    nlohmann::json to_json() const;
    static DeploySpec from_json(const nlohmann::json& json);
};

// Runs the deployment in a child process (this executable's hidden `internal-deploy` command) in a
// new user namespace that maps every uid and gid to itself. Throws ImageError when it fails.
void deploy(const DeploySpec& spec);

// The child's side: deploys `spec` in this process. Returns normally or throws.
void deploy_here(const DeploySpec& spec);

} // namespace imgbuild::image
