// manifest.json to and from its struct. make_image writes it and nothing may change its text for the
// same image (nlohmann's objects keep their keys sorted, so the order is the keys'); readers take a
// missing key as empty, which is what older manifests and the commit's own promises have.

#include "imgbuild/image/manifest.hpp"

namespace imgbuild::image {
namespace {

using json = nlohmann::json;

template <class T>
void read(const json& in, const char* key, T& value) {
    if (auto it = in.find(key); it != in.end() && !it->is_null()) value = it->template get<T>();
}

template <class T>
void read(const json& in, const char* key, std::optional<T>& value) {
    if (auto it = in.find(key); it != in.end() && !it->is_null()) value = it->template get<T>();
}

template <class T>
void write(json& out, const char* key, const std::optional<T>& value) {
    if (value) out[key] = *value;
}

} // namespace

std::vector<std::string> Manifest::boot_or_default() const {
    return boot.value_or(std::vector<std::string>{"bios", "uefi"});
}

void to_json(json& out, const ManifestPartition& partition) {
    out = {
        {"name", partition.name}, {"uuid", partition.uuid}, {"start", partition.start}, {"sectors", partition.sectors}};
}

void from_json(const json& in, ManifestPartition& partition) {
    read(in, "name", partition.name);
    read(in, "uuid", partition.uuid);
    read(in, "start", partition.start);
    read(in, "sectors", partition.sectors);
}

void to_json(json& out, const ManifestDisk& disk) {
    out = {{"size", disk.size},
           {"label-id", disk.label_id},
           {"root-uuid", disk.root_uuid},
           {"partitions", disk.partitions}};
}

void from_json(const json& in, ManifestDisk& disk) {
    read(in, "size", disk.size);
    read(in, "label-id", disk.label_id);
    read(in, "root-uuid", disk.root_uuid);
    read(in, "partitions", disk.partitions);
}

void to_json(json& out, const ManifestArtifact& artifact) {
    out = {{"file", artifact.file},
           {"size", artifact.size},
           {"allocated", artifact.allocated},
           {"sha256", artifact.sha256}};
    write(out, "format", artifact.format);
    write(out, "compression", artifact.compression);
}

void from_json(const json& in, ManifestArtifact& artifact) {
    read(in, "file", artifact.file);
    read(in, "size", artifact.size);
    read(in, "allocated", artifact.allocated);
    read(in, "sha256", artifact.sha256);
    read(in, "format", artifact.format);
    read(in, "compression", artifact.compression);
}

void to_json(json& out, const ManifestPlatform& platform) {
    out = {{"artifact", platform.artifact},
           {"file", platform.file},
           {"format", platform.format},
           {"compression", platform.compression}};
    write(out, "import-page", platform.import_page);
}

void from_json(const json& in, ManifestPlatform& platform) {
    read(in, "artifact", platform.artifact);
    read(in, "file", platform.file);
    read(in, "format", platform.format);
    read(in, "compression", platform.compression);
    read(in, "import-page", platform.import_page);
}

void to_json(json& out, const ManifestSbom& sbom) { out = {{"file", sbom.file}, {"sha256", sbom.sha256}}; }

void from_json(const json& in, ManifestSbom& sbom) {
    read(in, "file", sbom.file);
    read(in, "sha256", sbom.sha256);
}

void to_json(json& out, const Manifest& manifest) {
    out = {{"name", manifest.name},
           {"version", manifest.version},
           {"commit", manifest.commit},
           {"ref", manifest.ref},
           {"kernel", manifest.kernel}};
    write(out, "kernel-args", manifest.kernel_args);
    write(out, "boot", manifest.boot);
    write(out, "disk", manifest.disk);
    write(out, "rootfs-size", manifest.rootfs_size);
    write(out, "artifacts", manifest.artifacts);
    write(out, "platforms", manifest.platforms);
    write(out, "sha256sums", manifest.sha256sums);
    write(out, "timings", manifest.timings);
    write(out, "recipe-digest", manifest.recipe_digest);
    write(out, "lock-digest", manifest.lock_digest);
    write(out, "inputs-digest", manifest.inputs_digest);
    write(out, "packages", manifest.packages);
    write(out, "sbom", manifest.sbom);
    write(out, "source-date-epoch", manifest.source_date_epoch);
    if (manifest.remote) out["remote"] = {{"name", manifest.remote->name}, {"url", manifest.remote->url}};
    write(out, "checks", manifest.checks);
    write(out, "test", manifest.test);
}

void from_json(const json& in, Manifest& manifest) {
    manifest = {};
    if (!in.is_object()) return;
    read(in, "name", manifest.name);
    read(in, "version", manifest.version);
    read(in, "commit", manifest.commit);
    read(in, "ref", manifest.ref);
    read(in, "kernel", manifest.kernel);
    read(in, "kernel-args", manifest.kernel_args);
    read(in, "boot", manifest.boot);
    read(in, "disk", manifest.disk);
    read(in, "rootfs-size", manifest.rootfs_size);
    read(in, "artifacts", manifest.artifacts);
    read(in, "platforms", manifest.platforms);
    read(in, "sha256sums", manifest.sha256sums);
    read(in, "timings", manifest.timings);
    read(in, "recipe-digest", manifest.recipe_digest);
    read(in, "lock-digest", manifest.lock_digest);
    read(in, "inputs-digest", manifest.inputs_digest);
    read(in, "packages", manifest.packages);
    read(in, "sbom", manifest.sbom);
    read(in, "source-date-epoch", manifest.source_date_epoch);
    if (auto it = in.find("remote"); it != in.end() && it->is_object()) manifest.remote = it->get<RemoteSettings>();
    read(in, "checks", manifest.checks);
    read(in, "test", manifest.test);
}

} // namespace imgbuild::image
