#pragma once
// Which disk files a build writes and which of them each platform of `image.platform` imports: QEMU
// takes the recipe's own qcow2 (image.compress); Alibaba ECS and Tencent CVM take a qcow2 their
// import reads, so a zstd recipe gets a second, zlib-compressed qcow2 for them (docs/platforms.md).
// And SHA256SUMS, the digests of what a build directory publishes.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace imgbuild::image {

// One disk file of a build: OUTDIR/<stem><suffix>, listed in manifest.json's artifacts under `key`.
struct DiskOutput {
    std::string key;         // raw, qcow2, qcow2-zlib
    std::string format;      // raw, qcow2
    std::string compression; // none, zlib, zstd (a qcow2's clusters; none for raw)
    std::string suffix;      // .raw, .qcow2, .zlib.qcow2
    bool operator==(const DiskOutput&) const = default;
};

// What one platform imports: the disk output `key` and the page that says what its import takes.
struct PlatformArtifact {
    std::string platform; // ecs, cvm, qemu
    std::string key;      // a DiskOutput's
    std::string format;
    std::string compression;
    std::string import_page; // a URL; "" for qemu, which reads what it writes
    bool operator==(const PlatformArtifact&) const = default;
};

struct OutputPlan {
    std::vector<DiskOutput> disks;           // each (format, compression) once: the formats', then the platforms'
    std::vector<PlatformArtifact> platforms; // in the recipe's order
    bool operator==(const OutputPlan&) const = default;
};

// The disk files of a build and each platform's: `formats` as image.formats (raw, qcow2; checked),
// `compress` as image.compress (none, zlib, zstd), `platforms` as image.platform (checked; UsageError). No format:
// UsageError. Every platform imports raw and qcow2 alike, so no format set is refused: with a qcow2, the clouds get one
// whose compression they read (zlib, or none when the recipe compresses none), QEMU the recipe's; with raw only, each
// platform gets the raw disk.
OutputPlan plan_outputs(const std::vector<std::string>& formats, const std::string& compress,
                        const std::vector<std::string>& platforms);

// SHA256SUMS: beside the disks, the SBOM and the lock (not manifest.json, which the pipeline amends
// after the image stage with later stages' timings and the boot test's report, and which lists every
// artifact's sha256 itself).
constexpr std::string_view sha256sums_name = "SHA256SUMS";

// `sha256sum -c` input: "<sha256>  <file>" per line, by file name (the map's order). A name with a
// backslash or a newline is escaped as GNU sha256sum does: the line starts with a backslash.
std::string sha256sums_text(const std::map<std::string, std::string>& sums);

} // namespace imgbuild::image
