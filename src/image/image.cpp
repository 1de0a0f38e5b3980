// The image stage: deploy the commit into a sysroot (user namespace), add GRUB, lay out the hybrid GPT
// disk in a file, then qcow2, manifest.json and the SPDX SBOM. Everything is written under a temporary
// name and renamed when whole.

#include "imgbuild/image/image.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <set>

#include <fmt/format.h>

#include "deploy.hpp"
#include "disk.hpp"
#include "grub.hpp"
#include "imgbuild/commit/commit.hpp"
#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/process.hpp"
#include "imgbuild/core/size.hpp"
#include "imgbuild/core/timer.hpp"
#include "imgbuild/image/sbom.hpp"
#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::image {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t default_size = 4ull << 30;

// Times the stages of the image for the manifest.
class Stages {
public:
    template <class Step>
    auto run(const std::string& name, Step&& step) {
        ScopedTimer timer("image: " + name);
        auto start = Clock::now();
        struct Record {
            Stages& stages;
            std::string name;
            Clock::time_point start;
            ~Record() { stages.m_seconds[name] = std::chrono::duration<double>(Clock::now() - start).count(); }
        } record{*this, name, start};
        return step();
    }
    const std::map<std::string, double>& seconds() const { return m_seconds; }

private:
    std::map<std::string, double> m_seconds;
};

bool has_commit(const fs::path& repo, const std::string& checksum) {
    if (repo.empty() || !fs::exists(repo / "config")) return false;
    try {
        commit::read_commit(repo, checksum);
        return true;
    } catch (const Error&) {
        return false;
    }
}

std::vector<std::string> strings_of(const json& value, std::vector<std::string> fallback) {
    if (!value.is_array() || value.empty()) return fallback;
    return value.get<std::vector<std::string>>();
}

bool contains(const std::vector<std::string>& items, const std::string& item) {
    return std::find(items.begin(), items.end(), item) != items.end();
}

std::uint64_t tree_bytes(const fs::path& dir) {
    std::uint64_t total = 0;
    std::set<std::pair<dev_t, ino_t>> seen;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        struct stat info {};
        if (::lstat(it->path().c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
        if (info.st_nlink > 1 && !seen.insert({info.st_dev, info.st_ino}).second) continue;
        total += static_cast<std::uint64_t>(info.st_size);
    }
    return total;
}

std::uint64_t allocated_bytes(const fs::path& file) {
    struct stat info {};
    return ::stat(file.c_str(), &info) == 0 ? static_cast<std::uint64_t>(info.st_blocks) * 512 : 0;
}

} // namespace

ImageResult make_image(const ImageOptions& options) {
    auto started = Clock::now();
    Stages stages;
    // A commit named by its checksum may be on its way into the repository still (build publishes it
    // while it images); a ref is the repository's.
    bool checksum = options.ref.size() == 64 && options.ref.find_first_not_of("0123456789abcdef") == std::string::npos;
    auto info = commit::read_commit(
        checksum && has_commit(options.build_repo, options.ref) ? options.build_repo : options.repo, options.ref);
    ImageResult result;
    result.commit = info.checksum;
    result.version = info.version;

    // What the recipe said about its images travels in the commit (imgbuild.image), so the image stage
    // needs only the repository and the ref.
    json config = json::object();
    if (auto it = info.metadata.find("imgbuild.image"); it != info.metadata.end())
        config = json::parse(it->second, nullptr, false);
    if (!config.is_object()) config = json::object();
    const json image = config.value("image", json::object());
    std::string name = config.value("name", info.metadata.count("imgbuild.recipe") ? info.metadata["imgbuild.recipe"]
                                                                                   : std::string("image"));
    if (name.empty()) name = "image";
    auto formats = options.formats.empty() ? strings_of(image.value("formats", json()), {"qcow2"}) : options.formats;
    auto boot = options.boot.empty() ? strings_of(image.value("boot", json()), {"bios", "uefi"}) : options.boot;
    auto platforms = strings_of(image.value("platform", json()), {"qemu"});
    for (const auto& format : formats)
        if (format != "raw" && format != "qcow2") throw UsageError("unknown image format '{}' (raw, qcow2)", format);
    for (const auto& firmware : boot)
        if (firmware != "bios" && firmware != "uefi")
            throw UsageError("unknown boot firmware '{}' (bios, uefi)", firmware);
    if (image.value("root-fs", "ext4") != "ext4")
        throw ImageError("Failed to make the image: root-fs {} is not supported (Debian 12's mkfs.xfs cannot fill a "
                         "filesystem from a directory without mounting it); use ext4",
                         image.value("root-fs", ""));
    std::uint64_t size = default_size;
    if (image.contains("size")) {
        const auto& value = image.at("size");
        if (value.is_number_unsigned())
            size = value.get<std::uint64_t>();
        else if (auto parsed = parse_size(value.get<std::string>()))
            size = *parsed;
    }
    std::string compress = image.value("compress", "none");
    auto kernel_version = info.metadata.count("ostree.linux") ? info.metadata["ostree.linux"] : "";
    std::int64_t epoch = info.timestamp;

    // Every identifier from the commit and the disk's shape: the same commit, the same bytes.
    std::string seed = fmt::format("{}\n{}\n{}", info.checksum, name, size);
    auto layout = plan_disk(size, seed);
    RootFs root{{}, derived_uuid(seed, "root-fs"), derived_uuid(seed, "root-fs-hash"), epoch};

    std::vector<std::string> kargs = {"root=UUID=" + root.uuid, "rw"};
    for (const auto& arg : strings_of(config.value("kernel-args", json()), {})) kargs.push_back(arg);
    bool cloud = contains(platforms, "ecs") || contains(platforms, "cvm");
    if (cloud && !contains(kargs, "console=ttyS0,115200n8")) kargs.push_back("console=ttyS0,115200n8");

    fs::create_directories(options.outdir);
    fs::path work = options.cache_dir / "work" / fmt::format("image-{}", ::getpid());
    RemoveOnExit remove_work{work};
    fs::remove_all(work);
    fs::create_directories(work);
    root.tree = work / "sysroot";
    fs::create_directories(root.tree);

    // 1. The sysroot: the commit deployed as a node would have it, with the recipe's remote as origin.
    DeploySpec spec;
    spec.sysroot = root.tree;
    spec.source_repo = has_commit(options.build_repo, info.checksum) ? options.build_repo : options.repo;
    spec.checksum = info.checksum;
    spec.ref = info.metadata.count("imgbuild.ref") ? info.metadata["imgbuild.ref"] : options.ref;
    spec.osname = name;
    spec.kernel_args = kargs;
    if (config.contains("remote") && config["remote"].is_object()) {
        const auto& remote = config["remote"];
        spec.remote = Remote{remote.value("name", "origin"), remote.value("url", ""), remote.value("ed25519-key", "")};
    }
    stages.run("deploy", [&] { deploy(spec); });
    fs::path deployment = root.tree / "ostree/deploy" / name / "deploy" / (info.checksum + ".0");
    if (!spec.remote) log::warn("the recipe has no ostree.remote: nodes of this image have nowhere to upgrade from");

    // 2. GRUB: the menu, the modules, the core images.
    GrubSettings grub{root.uuid, true, 1};
    CoreImages core = stages.run("grub", [&] {
        install_grub_files(root.tree, grub);
        return make_core_images(work, root.uuid);
    });

    // 3. The raw disk: partitions, ESP, root filesystem, BIOS boot code.
    std::string stem = name + "-" + (info.version.empty() ? info.checksum.substr(0, 12) : info.version);
    fs::path raw = options.outdir / (stem + ".raw");
    AtomicFile raw_file(raw);
    stages.run("disk", [&] {
        if (::ftruncate(raw_file.fd(), static_cast<off_t>(layout.size)) != 0)
            throw ImageError("Failed to size '{}': {}", raw_file.temp_path().string(), std::strerror(errno));
        write_partition_table(raw_file.temp_path(), layout);
        if (contains(boot, "uefi")) make_esp(raw_file.temp_path(), layout, core.efi, seed, epoch);
        make_root(raw_file.temp_path(), layout, root);
        if (contains(boot, "bios")) install_bios_boot(raw_file.temp_path(), layout, core.boot_img, core.bios);
    });
    std::uint64_t rootfs_size = tree_bytes(deployment);

    // The raw image's checksum while qemu-img converts it (both only read it).
    std::future<Checksum> raw_sum;
    if (contains(formats, "raw"))
        raw_sum = std::async(std::launch::async,
                             [path = raw_file.temp_path()] { return checksum_file(path, DigestType::sha256); });

    // 4. qcow2 (compat 1.1), compressed when the recipe asks.
    std::optional<AtomicFile> qcow2_file;
    if (contains(formats, "qcow2")) {
        fs::path qcow2 = options.outdir / (stem + ".qcow2");
        qcow2_file.emplace(qcow2);
        stages.run("qcow2", [&] {
            std::string opts = "compat=1.1";
            std::vector<std::string> argv = {"qemu-img", "convert", "-f", "raw", "-O", "qcow2"};
            // Compressed: 1 MiB clusters. qemu-img compresses cluster by cluster on one core (in
            // order, so the file is the same bytes every time); larger clusters cost less per byte
            // (the default recipe's disk: 2.2 s instead of 3.2 s, and 5 % smaller).
            if (compress != "none") {
                argv.push_back("-c");
                opts += ",cluster_size=1M,compression_type=" + compress;
            }
            argv.insert(argv.end(), {"-o", opts, raw_file.temp_path().string(), qcow2_file->temp_path().string()});
            run_tool(argv, "convert the disk to qcow2");
        });
    }
    stages.run("checksums", [&] {
        if (raw_sum.valid())
            result.artifacts.push_back(
                Artifact{"raw", raw, layout.size, allocated_bytes(raw_file.temp_path()), raw_sum.get().hex});
        if (qcow2_file) {
            const fs::path& written = qcow2_file->temp_path();
            result.artifacts.push_back(Artifact{"qcow2", qcow2_file->path(), fs::file_size(written),
                                                allocated_bytes(written),
                                                checksum_file(written, DigestType::sha256).hex});
        }
    });

    // 5. The SBOM and the manifest.
    std::optional<resolve::Lock> lock;
    if (auto it = info.metadata.find("imgbuild.lock"); it != info.metadata.end())
        lock = resolve::lock_from_json(json::parse(it->second), "the commit's imgbuild.lock");
    std::string sbom_text;
    if (lock) {
        sbom_text = sbom(SbomInput{*lock, deployment, name, info.version, info.checksum, epoch,
                                   info.metadata.count("imgbuild.tool") ? info.metadata["imgbuild.tool"] : "imgbuild"})
                        .dump(2) +
                    "\n";
        write_file_atomic(options.outdir / "sbom.spdx.json", sbom_text);
        write_file_atomic(options.outdir / "lock.json", resolve::lock_text(*lock));
    } else {
        log::warn("the commit carries no lock (not built by this imgbuild): no SBOM");
    }

    json artifacts = json::object();
    for (const auto& artifact : result.artifacts)
        artifacts[artifact.format] = {{"file", artifact.path.filename().string()},
                                      {"size", artifact.size},
                                      {"allocated", artifact.allocated},
                                      {"sha256", artifact.sha256}};
    json timings = json::object();
    for (const auto& [stage, seconds] : options.stage_seconds) timings[stage] = seconds;
    for (const auto& [stage, seconds] : stages.seconds()) timings["image." + stage] = seconds;
    timings["image"] = std::chrono::duration<double>(Clock::now() - started).count();
    json manifest = {
        {"name", name},
        {"version", info.version},
        {"commit", info.checksum},
        {"ref", spec.ref},
        {"kernel", kernel_version},
        {"kernel-args", kargs},
        {"boot", boot},
        {"disk",
         {{"size", layout.size},
          {"label-id", layout.label_id},
          {"root-uuid", root.uuid},
          {"partitions", json::array({{{"name", "bios"},
                                       {"uuid", layout.bios.uuid},
                                       {"start", layout.bios.start},
                                       {"sectors", layout.bios.sectors}},
                                      {{"name", "esp"},
                                       {"uuid", layout.esp.uuid},
                                       {"start", layout.esp.start},
                                       {"sectors", layout.esp.sectors}},
                                      {{"name", "root"},
                                       {"uuid", layout.root.uuid},
                                       {"start", layout.root.start},
                                       {"sectors", layout.root.sectors}}})}}},
        {"rootfs-size", rootfs_size},
        {"artifacts", artifacts},
        {"timings", timings},
    };
    for (const char* key : {"imgbuild.recipe-digest", "imgbuild.lock-digest", "imgbuild.inputs-digest"})
        if (info.metadata.count(key)) manifest[std::string(key).substr(9)] = info.metadata[key];
    if (lock) {
        manifest["packages"] = lock->packages.size();
        manifest["sbom"] = {{"file", "sbom.spdx.json"}, {"sha256", sha256_hex(sbom_text)}};
        manifest["source-date-epoch"] = lock->source_date_epoch;
    }
    if (spec.remote) manifest["remote"] = {{"name", spec.remote->name}, {"url", spec.remote->url}};
    // What `imgbuild test` checks inside the booted image (the recipe's sysctl, modules-load, units).
    if (config.contains("checks")) manifest["checks"] = config["checks"];

    // Everything is whole: the images get their names, then the manifest that describes them.
    if (contains(formats, "raw")) raw_file.commit();
    if (qcow2_file) qcow2_file->commit();
    write_file_atomic(options.outdir / "manifest.json", manifest.dump(2) + "\n");
    result.manifest = std::move(manifest);
    log::info("imaged {} {} ({}) in {:.1f} s: {}", name, info.version, info.checksum.substr(0, 12),
              std::chrono::duration<double>(Clock::now() - started).count(), options.outdir.string());
    return result;
}

} // namespace imgbuild::image
