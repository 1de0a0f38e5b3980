// The image stage: deploy the commit into a sysroot (user namespace), add GRUB, lay out the hybrid GPT
// disk in a file, then qcow2, manifest.json and the SPDX SBOM. Everything is written under a temporary
// name and renamed when whole.

#include "imgbuild/image/image.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <set>
#include <thread>

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
#include "qcow2.hpp"

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

// Where the disk is made: a file in /dev/shm when it is a tmpfs with room for the whole disk and the
// machine has that much memory available and 1 GiB more; else nothing (the caller's filesystem).
// Files of imgbuild processes that are gone are removed first.
fs::path scratch_disk(std::uint64_t size) {
    const fs::path dir = "/dev/shm";
    struct statfs filesystem {};
    if (::statfs(dir.c_str(), &filesystem) != 0 || filesystem.f_type != TMPFS_MAGIC) return {};
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        std::string file = entry.path().filename().string();
        if (!file.starts_with("imgbuild-") || !file.ends_with("-disk.raw")) continue;
        int pid = 0;
        std::from_chars(file.data() + 9, file.data() + file.size(), pid);
        if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) fs::remove(entry.path(), ec);
    }
    struct statvfs space {};
    if (::statvfs(dir.c_str(), &space) != 0) return {};
    std::uint64_t room = static_cast<std::uint64_t>(space.f_bavail) * space.f_frsize;
    std::uint64_t available = 0;
    std::ifstream meminfo("/proc/meminfo");
    for (std::string key; meminfo >> key;) {
        std::uint64_t kib = 0;
        meminfo >> kib;
        if (key == "MemAvailable:") available = kib * 1024;
        meminfo.ignore(64, '\n');
    }
    if (room < size || available < size + (1ull << 30)) return {};
    return dir / fmt::format("imgbuild-{}-disk.raw", ::getpid());
}

// Copies the data of sparse file `from` into `out` (an empty file) at the same offsets, leaving holes.
void copy_sparse(const fs::path& from, int out, const fs::path& out_name, std::uint64_t size) {
    FileDescriptor file(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
    int in = file.fd;
    if (in < 0) throw ImageError("Failed to open '{}': {}", from.string(), std::strerror(errno));
    auto fail = [&](const char* what) {
        throw ImageError("Failed to copy '{}' to '{}': {}: {}", from.string(), out_name.string(), what,
                         std::strerror(errno));
    };
    std::string buffer;
    bool kernel_copy = true;
    off_t at = 0;
    while (static_cast<std::uint64_t>(at) < size) {
        off_t data = ::lseek(in, at, SEEK_DATA);
        if (data < 0 && errno == ENXIO) break;
        if (data < 0) fail("seek");
        off_t hole = ::lseek(in, data, SEEK_HOLE);
        if (hole < 0) fail("seek");
        loff_t source = data, target = data;
        while (source < hole) {
            auto length = static_cast<std::size_t>(hole - source);
            ssize_t n = -1;
            if (kernel_copy) {
                n = ::copy_file_range(in, &source, out, &target, length, 0);
                if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
                    kernel_copy = false;
                    continue;
                }
            } else {
                buffer.resize(std::min<std::size_t>(length, 1 << 20));
                n = ::pread(in, buffer.data(), buffer.size(), source);
                if (n > 0 && ::pwrite(out, buffer.data(), static_cast<std::size_t>(n), target) != n) fail("write");
                if (n > 0) {
                    source += n;
                    target += n;
                }
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) fail("copy");
            if (n == 0) break;
        }
        at = hole;
    }
    if (::ftruncate(out, static_cast<off_t>(size)) != 0) fail("size");
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

    // Every identifier from the commit and the disk's shape: the same commit, the same bytes. The root
    // filesystem's UUID and hash seed are the image's (its name and size), the same from build to
    // build: every inode and directory block carries a checksum seeded by the UUID, so consecutive
    // builds' filesystems then differ only where their trees do, and their qcow2s share clusters.
    std::string seed = fmt::format("{}\n{}\n{}", info.checksum, name, size);
    auto layout = plan_disk(size, seed);
    std::string image_seed = fmt::format("{}\n{}", name, size);
    RootFs root{{}, derived_uuid(image_seed, "root-fs"), derived_uuid(image_seed, "root-fs-hash"), epoch};

    std::vector<std::string> kargs = {"root=UUID=" + root.uuid, "rw"};
    for (const auto& arg : strings_of(config.value("kernel-args", json()), {})) {
        // The commit's settings come from a recipe the recipe stage checked, but a commit made by an older
        // imgbuild (or by hand) may carry anything: what the disk's boot depends on is imgbuild's alone.
        bool one_word = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char c) {
            return static_cast<unsigned char>(c) > ' ' && c != '\x7f';
        });
        if (arg.starts_with("root=") || arg.starts_with("ostree=") || !one_word)
            throw ImageError("Failed to image '{}': its kernel argument '{}' is {}; build the commit again from a "
                             "recipe without it",
                             options.ref, arg, one_word ? "imgbuild's to set" : "not one word of printable characters");
        kargs.push_back(arg);
    }
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
    // GRUB's core images need only the root's UUID: made while the commit deploys.
    auto core_images = std::async(std::launch::async, [&] { return make_core_images(work, root.uuid); });
    stages.run("deploy", [&] { deploy(spec); });
    fs::path deployment = root.tree / "ostree/deploy" / name / "deploy" / (info.checksum + ".0");
    if (!spec.remote) log::warn("the recipe has no ostree.remote: nodes of this image have nowhere to upgrade from");

    // 2. GRUB: the menu, the modules, the core images.
    GrubSettings grub{root.uuid, true, 1};
    CoreImages core = stages.run("grub", [&] {
        install_grub_files(root.tree, grub);
        return core_images.get();
    });

    // 3. The raw disk: partitions, ESP, root filesystem, BIOS boot code. It is made in memory (tmpfs)
    // when it fits: mke2fs writes it in 4 KiB pieces, which costs a disk-backed filesystem twice the
    // time. The raw artifact is then a sparse copy of it.
    std::string stem = name + "-" + (info.version.empty() ? info.checksum.substr(0, 12) : info.version);
    bool want_raw = contains(formats, "raw");
    fs::path raw = options.outdir / (stem + ".raw");
    std::optional<AtomicFile> raw_file;
    if (want_raw) raw_file.emplace(raw);
    fs::path scratch = scratch_disk(layout.size);
    if (scratch.empty() && !want_raw) scratch = work / "disk.raw";
    RemoveOnExit remove_scratch{scratch};
    fs::path disk = scratch.empty() ? raw_file->temp_path() : scratch;
    if (!scratch.empty()) {
        int fd = ::open(scratch.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) throw ImageError("Failed to create '{}': {}", scratch.string(), std::strerror(errno));
        ::close(fd);
    }
    log::debug("image: the disk is made in {}", disk.string());
    stages.run("disk", [&] {
        if (::truncate(disk.c_str(), static_cast<off_t>(layout.size)) != 0)
            throw ImageError("Failed to size '{}': {}", disk.string(), std::strerror(errno));
        write_partition_table(disk, layout);
        if (contains(boot, "uefi")) make_esp(disk, layout, core.efi, seed, epoch);
        make_root(disk, layout, root);
        if (contains(boot, "bios")) install_bios_boot(disk, layout, core.boot_img, core.bios);
    });

    // 4. What needs the sysroot (the rootfs size, the SBOM), then the sysroot goes while the images
    // are written.
    std::uint64_t rootfs_size = tree_bytes(deployment);
    std::optional<resolve::Lock> lock;
    if (auto it = info.metadata.find("imgbuild.lock"); it != info.metadata.end())
        lock = resolve::lock_from_json(json::parse(it->second), "the commit's imgbuild.lock");
    std::string sbom_text;
    if (lock)
        sbom_text = stages.run("sbom", [&] {
            return sbom(SbomInput{*lock, deployment, name, info.version, info.checksum, epoch,
                                  info.metadata.count("imgbuild.tool") ? info.metadata["imgbuild.tool"]
                                                                       : std::string("imgbuild")})
                       .dump(2) +
                   "\n";
        });
    auto removed = std::async(std::launch::async, [tree = root.tree] {
        std::error_code ec;
        fs::remove_all(tree, ec);
    });

    // 5. The raw artifact (copied out of memory) and its checksum, while the qcow2 is written. Each
    // artifact is flushed to the disk as soon as it is written, alongside the rest (its rename waits
    // for that).
    auto flush = [](int fd) { ::fdatasync(fd); };
    std::future<Checksum> raw_sum;
    std::future<void> raw_copied;
    if (want_raw) {
        raw_sum = std::async(std::launch::async, [disk] { return checksum_file(disk, DigestType::sha256); });
        raw_copied = std::async(std::launch::async, [&] {
            if (!scratch.empty()) {
                ScopedTimer timer("image: copy the raw disk out of memory");
                copy_sparse(scratch, raw_file->fd(), raw_file->temp_path(), layout.size);
            }
            flush(raw_file->fd());
        });
    }

    // 6. qcow2 (compat 1.1). Compressed, imgbuild writes it (qcow2.hpp): on every core, and reusing
    // the clusters the recipe's last image had; uncompressed, qemu-img.
    std::optional<AtomicFile> qcow2_file;
    std::optional<ClusterCache> clusters;
    Qcow2Result written;
    std::future<void> qcow2_flushed;
    if (contains(formats, "qcow2")) {
        fs::path qcow2 = options.outdir / (stem + ".qcow2");
        qcow2_file.emplace(qcow2);
        stages.run("qcow2", [&] {
            if (compress == "none") {
                run_tool({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", "compat=1.1", disk.string(),
                          qcow2_file->temp_path().string()},
                         "convert the disk to qcow2");
                return;
            }
            clusters.emplace(
                options.cache_dir / "image",
                sha256_hex(fmt::format("{}\n{}\n{}\n{}", name, compress, compressor_identity(compress), layout.size))
                    .substr(0, 32));
            auto source = clusters->open();
            unsigned cores = std::max(1u, std::thread::hardware_concurrency());
            Qcow2Options qcow2_options{compress, options.jobs ? std::min(options.jobs, cores) : cores, source.get()};
            written = write_compressed_qcow2(disk, qcow2_file->fd(), qcow2_file->temp_path(), qcow2_options);
            log::debug("image: qcow2: {} clusters with data: {} compressed, {} from the last image, {} stored",
                       written.clusters, written.compressed, written.reused, written.stored);
            result.qcow2_clusters = written.clusters;
            result.qcow2_reused = written.reused;
        });
        qcow2_flushed = std::async(std::launch::async, flush, qcow2_file->fd());
    }
    stages.run("checksums", [&] {
        if (raw_copied.valid()) raw_copied.get();
        if (raw_sum.valid())
            result.artifacts.push_back(
                Artifact{"raw", raw, layout.size, allocated_bytes(raw_file->temp_path()), raw_sum.get().hex});
        if (qcow2_file) {
            const fs::path& path = qcow2_file->temp_path();
            result.artifacts.push_back(Artifact{"qcow2", qcow2_file->path(), fs::file_size(path), allocated_bytes(path),
                                                checksum_file(path, DigestType::sha256).hex});
        }
    });
    removed.get();
    if (qcow2_flushed.valid()) qcow2_flushed.get();

    // 7. The SBOM and the manifest.
    if (lock) {
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
    if (raw_file) raw_file->commit();
    if (qcow2_file) qcow2_file->commit();
    // The next build of this image reuses the qcow2's clusters.
    if (clusters) {
        try {
            clusters->remember(qcow2_file->path(), written.index);
        } catch (const std::exception& e) {
            log::warn("could not keep the qcow2's clusters in the cache: {}", e.what());
        }
    }
    write_file_atomic(options.outdir / "manifest.json", manifest.dump(2) + "\n");
    result.manifest = std::move(manifest);
    log::info("imaged {} {} ({}) in {:.1f} s: {}", name, info.version, info.checksum.substr(0, 12),
              std::chrono::duration<double>(Clock::now() - started).count(), options.outdir.string());
    return result;
}

} // namespace imgbuild::image
