#pragma once
// The image settings: what the image stage (and `imgbuild test`) needs of the recipe, recorded in every
// commit as JSON under commit::key::image, so a commit alone can be imaged. The pipeline writes them
// (settings_of), make_image and verify read them (from_json); their defaults live here only.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "imgbuild/commit/commit.hpp"
#include "imgbuild/recipe/recipe.hpp"

namespace imgbuild::image {

// The ostree remote a node of the image upgrades from.
struct RemoteSettings {
    std::string name = "origin";
    std::string url;
    std::optional<std::string> ed25519_key; // base64 public key verifying the commits; none: not verified
    bool operator==(const RemoteSettings&) const = default;
};

// What `imgbuild test` checks on a booted node: the recipe's tuning in effect and its units' state.
struct CheckSettings {
    std::map<std::string, nlohmann::json> sysctl; // key → value as the recipe wrote it (string or integer)
    std::vector<std::string> modules_load;
    std::vector<std::string> units_enable;
    std::vector<std::string> units_mask;
    // The recipe installs containerd (containerd or containerd.io in packages:): the boot checks prove
    // its CRI plugin, runc with the systemd cgroup driver, overlayfs, and run a container. Written to
    // JSON only when true, so the settings of a recipe without it keep their text.
    bool containerd = false;
    bool operator==(const CheckSettings&) const = default;
};

// The recipe's `image:` keys are kept as the recipe wrote them (an absent key stays absent, so the JSON
// a commit stores is the recipe's); the *_or_default() accessors give what the image stage uses.
struct ImageSettings {
    std::string name;                                    // the recipe's name ("" when a commit lacks it)
    std::optional<std::vector<std::string>> formats;     // image.formats
    std::optional<std::vector<std::string>> boot;        // image.boot
    std::optional<std::vector<std::string>> platforms;   // image.platform
    std::optional<nlohmann::json> size;                  // image.size: "4GiB" or bytes
    std::optional<std::string> compress;                 // image.compress
    std::optional<std::string> root_fs;                  // image.root-fs
    std::optional<std::vector<std::string>> kernel_args; // kernel.args (present when kernel: is)
    std::optional<RemoteSettings> remote;                // ostree.remote
    std::optional<CheckSettings> checks;                 // always written by settings_of
    bool operator==(const ImageSettings&) const = default;

    std::vector<std::string> formats_or_default() const;   // qcow2
    std::vector<std::string> boot_or_default() const;      // bios and uefi
    std::vector<std::string> platforms_or_default() const; // qemu
    std::uint64_t size_or_default() const;                 // 4 GiB (also for a size that does not parse)
    std::string compress_or_default() const;               // none
    std::string root_fs_or_default() const;                // ext4
};

// JSON as nlohmann's ADL hooks (`json j = settings; j.get<ImageSettings>()`), the keys in the recipe's
// spelling. Reading an ImageSettings throws UsageError for a format or firmware imgbuild does not know
// and ImageError for a root filesystem it cannot make: a commit made by an older imgbuild (or by hand)
// may carry anything.
void to_json(nlohmann::json& json, const RemoteSettings& remote);
void from_json(const nlohmann::json& json, RemoteSettings& remote);
void to_json(nlohmann::json& json, const CheckSettings& checks);
void from_json(const nlohmann::json& json, CheckSettings& checks);
void to_json(nlohmann::json& json, const ImageSettings& settings);
void from_json(const nlohmann::json& json, ImageSettings& settings);

// Throw UsageError for an unknown image format (raw, qcow2) or boot firmware (bios, uefi).
void check_formats(const std::vector<std::string>& formats);
void check_boot(const std::vector<std::string>& boot);
// Throw UsageError for an unknown platform (ecs, cvm, qemu).
void check_platforms(const std::vector<std::string>& platforms);

// The settings of a recipe's images: its name, image:, kernel arguments, the node's remote (verified
// with ostree.remote's ed25519-public-key, else `ed25519_public_key`: the public half of the signing
// key) and what the boot test checks.
ImageSettings settings_of(const recipe::Recipe& recipe, std::optional<std::string> ed25519_public_key);

// The settings a commit records (commit::key::image): empty ones when it records none, or something
// that is not a JSON object (a commit made by an older imgbuild, or by hand).
ImageSettings settings_of(const commit::CommitInfo& commit);

} // namespace imgbuild::image
