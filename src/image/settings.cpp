// The image settings as JSON, and made from a recipe. The JSON is stored in each commit, and the
// commit's checksum covers it: the text settings_of gives must not change for the same recipe (the
// keys are nlohmann's sorted object keys; an absent recipe key stays absent).

#include "imgbuild/image/settings.hpp"

#include <algorithm>

#include "imgbuild/commit/metadata.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/size.hpp"
#include "imgbuild/image/image.hpp"

namespace imgbuild::image {
namespace {

using json = nlohmann::json;

constexpr std::uint64_t default_size = 4ull << 30;

// `key` of `object` when it is there, else `fallback` (an object lacking it, or no object at all).
template <class T>
T get_or(const json& object, const char* key, T fallback) {
    if (!object.is_object()) return fallback;
    auto it = object.find(key);
    return it == object.end() ? fallback : it->template get<T>();
}

template <class T>
std::optional<T> get_optional(const json& object, const char* key) {
    if (!object.is_object() || !object.contains(key)) return std::nullopt;
    return object.at(key).get<T>();
}

// A list the recipe may leave out or leave empty: the default then.
std::vector<std::string> or_default(const std::optional<std::vector<std::string>>& list,
                                    std::vector<std::string> fallback) {
    return list && !list->empty() ? *list : fallback;
}

// The recipe's image: keys, as written.
void read_image_keys(const json& image, ImageSettings& settings) {
    settings.formats = get_optional<std::vector<std::string>>(image, "formats");
    settings.boot = get_optional<std::vector<std::string>>(image, "boot");
    settings.platforms = get_optional<std::vector<std::string>>(image, "platform");
    settings.size = get_optional<json>(image, "size");
    settings.compress = get_optional<std::string>(image, "compress");
    settings.root_fs = get_optional<std::string>(image, "root-fs");
}

} // namespace

std::vector<std::string> ImageSettings::formats_or_default() const { return or_default(formats, {"qcow2"}); }
std::vector<std::string> ImageSettings::boot_or_default() const { return or_default(boot, {"bios", "uefi"}); }
std::vector<std::string> ImageSettings::platforms_or_default() const { return or_default(platforms, {"qemu"}); }
std::string ImageSettings::compress_or_default() const { return compress.value_or("none"); }
std::string ImageSettings::root_fs_or_default() const { return root_fs.value_or("ext4"); }

std::uint64_t ImageSettings::size_or_default() const {
    if (!size) return default_size;
    if (size->is_number_unsigned()) return size->get<std::uint64_t>();
    return parse_size(size->get<std::string>()).value_or(default_size);
}

void check_formats(const std::vector<std::string>& formats) {
    for (const auto& format : formats)
        if (format != "raw" && format != "qcow2") throw UsageError("unknown image format '{}' (raw, qcow2)", format);
}

void check_boot(const std::vector<std::string>& boot) {
    for (const auto& firmware : boot)
        if (firmware != "bios" && firmware != "uefi")
            throw UsageError("unknown boot firmware '{}' (bios, uefi)", firmware);
}

void check_platforms(const std::vector<std::string>& platforms) {
    for (const auto& platform : platforms)
        if (platform != "ecs" && platform != "cvm" && platform != "qemu")
            throw UsageError("unknown platform '{}' (ecs, cvm, qemu)", platform);
}

void to_json(json& out, const RemoteSettings& remote) {
    out = {{"name", remote.name}, {"url", remote.url}};
    if (remote.ed25519_key) out["ed25519-key"] = *remote.ed25519_key;
}

void from_json(const json& in, RemoteSettings& remote) {
    remote.name = get_or<std::string>(in, "name", "origin");
    remote.url = get_or<std::string>(in, "url", "");
    remote.ed25519_key = get_optional<std::string>(in, "ed25519-key");
}

void to_json(json& out, const CheckSettings& checks) {
    out = {{"sysctl", checks.sysctl},
           {"modules-load", checks.modules_load},
           {"units", {{"enable", checks.units_enable}, {"mask", checks.units_mask}}}};
    if (checks.containerd) out["containerd"] = true;
}

void from_json(const json& in, CheckSettings& checks) {
    checks.sysctl = get_or<std::map<std::string, json>>(in, "sysctl", {});
    checks.modules_load = get_or<std::vector<std::string>>(in, "modules-load", {});
    const auto units = get_or<json>(in, "units", json::object());
    checks.units_enable = get_or<std::vector<std::string>>(units, "enable", {});
    checks.units_mask = get_or<std::vector<std::string>>(units, "mask", {});
    checks.containerd = get_or<bool>(in, "containerd", false);
}

void to_json(json& out, const ImageSettings& settings) {
    json image = json::object();
    if (settings.formats) image["formats"] = *settings.formats;
    if (settings.boot) image["boot"] = *settings.boot;
    if (settings.platforms) image["platform"] = *settings.platforms;
    if (settings.size) image["size"] = *settings.size;
    if (settings.compress) image["compress"] = *settings.compress;
    if (settings.root_fs) image["root-fs"] = *settings.root_fs;
    out = {{"name", settings.name}, {"image", image}};
    if (settings.kernel_args) out["kernel-args"] = *settings.kernel_args;
    if (settings.checks) out["checks"] = *settings.checks;
    if (settings.remote) out["remote"] = *settings.remote;
}

void from_json(const json& in, ImageSettings& settings) {
    settings = {};
    settings.name = get_or<std::string>(in, "name", "");
    read_image_keys(get_or<json>(in, "image", json::object()), settings);
    settings.kernel_args = get_optional<std::vector<std::string>>(in, "kernel-args");
    settings.checks = get_optional<CheckSettings>(in, "checks");
    settings.remote = get_optional<RemoteSettings>(in, "remote");
    // What the schema's enums say, again: the settings may come from a commit made by anything.
    check_formats(settings.formats.value_or(std::vector<std::string>{}));
    check_boot(settings.boot.value_or(std::vector<std::string>{}));
    check_platforms(settings.platforms.value_or(std::vector<std::string>{}));
    if (settings.root_fs_or_default() != "ext4")
        throw ImageError("Failed to make the image: root-fs {} is not supported (Debian 12's mkfs.xfs cannot fill a "
                         "filesystem from a directory without mounting it); use ext4",
                         *settings.root_fs);
}

ImageSettings settings_of(const recipe::Recipe& recipe, std::optional<std::string> ed25519_public_key) {
    const json& document = recipe.json();
    ImageSettings settings;
    settings.name = recipe.name().empty() ? "image" : recipe.name();
    read_image_keys(get_or<json>(document, "image", json::object()), settings);
    if (document.contains("kernel"))
        settings.kernel_args = get_or<std::vector<std::string>>(document["kernel"], "args", {});
    // The recipe's sysctl:, modules-load: and units: have the names the checks have.
    CheckSettings checks;
    from_json(document, checks);
    checks.containerd = false;
    for (const auto& spec : get_or<std::vector<std::string>>(document, "packages", {})) {
        auto name = recipe::package_name(spec);
        if (name == "containerd" || name == "containerd.io") checks.containerd = true;
    }
    settings.checks = std::move(checks);
    auto remote_pointer = json::json_pointer("/ostree/remote");
    if (document.contains(remote_pointer)) {
        const json& remote = document.at(remote_pointer);
        RemoteSettings node{get_or<std::string>(remote, "name", "origin"), get_or<std::string>(remote, "url", ""), {}};
        if (remote.contains("ed25519-public-key")) {
            std::string text = read_file(remote.at("ed25519-public-key").get<std::string>());
            text.erase(text.find_last_not_of(" \t\r\n") + 1);
            node.ed25519_key = text;
        } else if (ed25519_public_key) {
            node.ed25519_key = std::move(ed25519_public_key);
        }
        settings.remote = std::move(node);
    }
    return settings;
}

ImageSettings settings_of(const commit::CommitInfo& commit) {
    json stored = json::object();
    if (auto it = commit.metadata.find(std::string(commit::key::image)); it != commit.metadata.end())
        stored = json::parse(it->second, nullptr, false);
    if (!stored.is_object()) stored = json::object();
    return stored.get<ImageSettings>();
}

} // namespace imgbuild::image
