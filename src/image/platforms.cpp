// The platform → artifact plan: a pure function of image.formats, image.compress and image.platform,
// so make_image, manifest.json and the docs' table agree, and one (format, compression) pair is written
// once however many platforms import it. And SHA256SUMS's text.

#include "imgbuild/image/platforms.hpp"

#include <algorithm>

#include "imgbuild/core/error.hpp"
#include "imgbuild/image/settings.hpp"

namespace imgbuild::image {
namespace {

// The pages each cloud's import follows (docs/platforms.md quotes what they say).
constexpr const char* ecs_import_page = "https://www.alibabacloud.com/help/en/ecs/user-guide/import-a-custom-image";
constexpr const char* cvm_import_page = "https://www.tencentcloud.com/document/product/213/33270";

bool contains(const std::vector<std::string>& items, const std::string& item) {
    return std::find(items.begin(), items.end(), item) != items.end();
}

// The qcow2 compression a cloud's import reads: zlib, qcow2's own since its first version. A zstd
// qcow2 sets the incompatible compression-type feature bit, which a reader older than QEMU 5.1 refuses.
std::string cloud_compression(const std::string& compress) { return compress == "zstd" ? "zlib" : compress; }

DiskOutput qcow2_output(const std::string& compression, bool primary) {
    if (primary) return {"qcow2", "qcow2", compression, ".qcow2"};
    return {"qcow2-" + compression, "qcow2", compression, "." + compression + ".qcow2"};
}

} // namespace

OutputPlan plan_outputs(const std::vector<std::string>& formats, const std::string& compress,
                        const std::vector<std::string>& platforms) {
    if (formats.empty()) throw UsageError("no image format to write (raw, qcow2)");
    check_formats(formats);
    check_platforms(platforms);
    if (compress != "none" && compress != "zlib" && compress != "zstd")
        throw UsageError("unknown qcow2 compression '{}' (none, zlib, zstd)", compress);
    OutputPlan plan;
    bool qcow2 = contains(formats, "qcow2");
    for (const auto& format : formats) {
        DiskOutput disk = format == "raw" ? DiskOutput{"raw", "raw", "none", ".raw"} : qcow2_output(compress, true);
        if (std::find(plan.disks.begin(), plan.disks.end(), disk) == plan.disks.end()) plan.disks.push_back(disk);
    }
    for (const auto& platform : platforms) {
        if (std::any_of(plan.platforms.begin(), plan.platforms.end(),
                        [&](const PlatformArtifact& known) { return known.platform == platform; }))
            continue;
        DiskOutput disk = plan.disks.front(); // raw only: the raw disk, which every platform imports
        if (qcow2) {
            std::string compression = platform == "qemu" ? compress : cloud_compression(compress);
            disk = qcow2_output(compression, compression == compress);
            if (std::find(plan.disks.begin(), plan.disks.end(), disk) == plan.disks.end()) plan.disks.push_back(disk);
        }
        std::string page = platform == "ecs" ? ecs_import_page : platform == "cvm" ? cvm_import_page : "";
        plan.platforms.push_back({platform, disk.key, disk.format, disk.compression, page});
    }
    return plan;
}

std::string sha256sums_text(const std::map<std::string, std::string>& sums) {
    std::string text;
    for (const auto& [file, sha256] : sums) {
        bool escape = file.find_first_of("\\\n") != std::string::npos;
        std::string name;
        for (char c : file) name += c == '\\' ? "\\\\" : c == '\n' ? "\\n" : std::string(1, c);
        text += (escape ? "\\" : "") + sha256 + "  " + name + "\n";
    }
    return text;
}

} // namespace imgbuild::image
