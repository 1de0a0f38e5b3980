#pragma once
// The image stage: an ostree commit → a bootable hybrid BIOS/UEFI GPT disk (raw, qcow2), without loop
// devices or mounts, plus the build's manifest.json and SPDX SBOM.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "imgbuild/core/error.hpp"
#include "imgbuild/image/manifest.hpp"
#include "imgbuild/image/platforms.hpp"

namespace imgbuild::image {

// The image could not be made (a tool failed, the tree does not fit the disk). Exit code 1.
class ImageError : public Error {
public:
    using Error::Error;
};

struct ImageOptions {
    std::filesystem::path repo; // the archive repository holding the commit
    std::string ref;            // a ref or a checksum
    // Where the files go: OUTDIR/<name>.raw, .qcow2, .zlib.qcow2 (platforms.hpp), manifest.json,
    // sbom.spdx.json, lock.json, SHA256SUMS.
    std::filesystem::path outdir;
    std::vector<std::string> formats;            // empty: the recipe's image.formats (default qcow2)
    std::vector<std::string> boot;               // empty: the recipe's image.boot (default both)
    std::filesystem::path cache_dir;             // work directories; a build repository holding the commit
    std::filesystem::path build_repo;            // optional: the bare build repository, may hold the commit (faster)
    std::map<std::string, double> stage_seconds; // earlier stages' timings, for the manifest
    unsigned jobs = 0; // threads compressing the qcow2, at most one per core (0: one per core)
};

struct Artifact {
    std::string key;         // in manifest.json's artifacts: raw, qcow2, qcow2-zlib
    std::string format;      // raw, qcow2
    std::string compression; // none, zlib, zstd
    std::filesystem::path path;
    std::uint64_t size = 0;      // bytes on disk (qcow2) or the disk size (raw)
    std::uint64_t allocated = 0; // bytes the file occupies
    std::string sha256;
};

// A compressed qcow2's clusters holding data, and of them those taken from the recipe's last image of
// that compression.
struct Qcow2Reuse {
    std::string key; // qcow2, qcow2-zlib
    std::string compression;
    std::uint64_t clusters = 0;
    std::uint64_t reused = 0;
};

struct ImageResult {
    std::string commit;
    std::string version;
    std::vector<Artifact> artifacts;
    std::vector<Qcow2Reuse> qcow2s; // the compressed ones, in the order written
    Manifest manifest;              // as written to manifest.json
};

// Makes the images of `ref` in `repo` into options.outdir (created; every file written under a
// temporary name and renamed when complete).
ImageResult make_image(const ImageOptions& options);

// The hidden `imgbuild internal-deploy SPEC` command: the sysroot deployment, run by make_image in a
// user namespace. Returns the exit code.
int internal_deploy(const std::filesystem::path& spec);

} // namespace imgbuild::image
