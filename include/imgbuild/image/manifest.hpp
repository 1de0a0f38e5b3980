#pragma once
// A build's manifest.json: what make_image made (the disk's identifiers, the artifacts and their
// checksums, the stages' timings) and what `imgbuild test` checks in the booted image. Written by the
// image stage, read by verify and the pipeline's reuse check; its keys are a published format.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "imgbuild/image/settings.hpp"

namespace imgbuild::image {

struct ManifestPartition {
    std::string name; // bios, esp, root
    std::string uuid;
    std::uint64_t start = 0; // in sectors
    std::uint64_t sectors = 0;
    bool operator==(const ManifestPartition&) const = default;
};

struct ManifestDisk {
    std::uint64_t size = 0;
    std::string label_id;
    std::string root_uuid;
    std::vector<ManifestPartition> partitions;
    bool operator==(const ManifestDisk&) const = default;
};

struct ManifestArtifact {
    std::string file; // the name beside manifest.json
    std::uint64_t size = 0;
    std::uint64_t allocated = 0;
    std::string sha256;
    std::optional<std::string> format;      // raw, qcow2 (absent in an older manifest: its key)
    std::optional<std::string> compression; // a qcow2's: none, zlib, zstd
    bool operator==(const ManifestArtifact&) const = default;
};

// What one platform of image.platform imports (platforms.hpp's plan): the artifact (its key in
// artifacts, its file), its format and compression, and the cloud's page those follow.
struct ManifestPlatform {
    std::string artifact;
    std::string file;
    std::string format;
    std::string compression;
    std::optional<std::string> import_page; // none for qemu
    bool operator==(const ManifestPlatform&) const = default;
};

struct ManifestSbom {
    std::string file;
    std::string sha256;
    bool operator==(const ManifestSbom&) const = default;
};

// Every key is optional when read (a manifest of an older imgbuild, or the commit's promises that
// `imgbuild test --upgrade-to` builds from a commit alone); make_image writes every one it knows.
struct Manifest {
    std::string name;
    std::string version;
    std::string commit;
    std::string ref;
    std::string kernel; // uname -r of the image's kernel
    std::optional<std::vector<std::string>> kernel_args;
    std::optional<std::vector<std::string>> boot; // the firmwares the disk boots with
    std::optional<ManifestDisk> disk;
    std::optional<std::uint64_t> rootfs_size;
    std::optional<std::map<std::string, ManifestArtifact>> artifacts; // by key: raw, qcow2, qcow2-zlib
    std::optional<std::map<std::string, ManifestPlatform>> platforms; // by platform: ecs, cvm, qemu
    std::optional<std::string> sha256sums;                            // "SHA256SUMS": the artifacts' digests
    std::optional<std::map<std::string, double>> timings;             // seconds by stage
    std::optional<std::string> recipe_digest, lock_digest, inputs_digest;
    std::optional<std::uint64_t> packages;
    std::optional<ManifestSbom> sbom;
    std::optional<std::int64_t> source_date_epoch;
    std::optional<RemoteSettings> remote; // its name and URL
    std::optional<CheckSettings> checks;  // what `imgbuild test` checks inside the booted image
    std::optional<nlohmann::json> test;   // `build --test`'s report (the pipeline's)
    bool operator==(const Manifest&) const = default;

    // The firmwares the image boots with (both when the manifest does not say).
    std::vector<std::string> boot_or_default() const;
};

void to_json(nlohmann::json& out, const ManifestPartition& partition);
void from_json(const nlohmann::json& in, ManifestPartition& partition);
void to_json(nlohmann::json& out, const ManifestDisk& disk);
void from_json(const nlohmann::json& in, ManifestDisk& disk);
void to_json(nlohmann::json& out, const ManifestArtifact& artifact);
void from_json(const nlohmann::json& in, ManifestArtifact& artifact);
void to_json(nlohmann::json& out, const ManifestPlatform& platform);
void from_json(const nlohmann::json& in, ManifestPlatform& platform);
void to_json(nlohmann::json& out, const ManifestSbom& sbom);
void from_json(const nlohmann::json& in, ManifestSbom& sbom);
void to_json(nlohmann::json& out, const Manifest& manifest);
void from_json(const nlohmann::json& in, Manifest& manifest);

} // namespace imgbuild::image
