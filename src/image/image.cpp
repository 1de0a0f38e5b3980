// The image stage: deploy the commit into a sysroot (user namespace), add GRUB, lay out the hybrid GPT
// disk in a file, then each platform's qcow2 (platforms.hpp), manifest.json, the SPDX SBOM and
// SHA256SUMS. Everything is written under a temporary name and renamed when whole.

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
#include <cstring>
#include <fstream>
#include <future>
#include <list>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "deploy.hpp"
#include "disk.hpp"
#include "grub.hpp"
#include "imgbuild/commit/commit.hpp"
#include "imgbuild/commit/metadata.hpp"
#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/fd.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/process.hpp"
#include "imgbuild/core/timer.hpp"
#include "imgbuild/image/sbom.hpp"
#include "imgbuild/image/settings.hpp"
#include "imgbuild/resolve/lock.hpp"
#include "qcow2.hpp"

namespace imgbuild::image {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

bool has_commit(const fs::path& repo, const std::string& checksum) {
    if (repo.empty() || !fs::exists(repo / "config")) return false;
    try {
        commit::read_commit(repo, checksum);
        return true;
    } catch (const Error&) {
        return false;
    }
}

bool contains(const std::vector<std::string>& items, const std::string& item) {
    return std::find(items.begin(), items.end(), item) != items.end();
}

// The commit's metadata entry `key`, or `fallback`.
std::string metadata_or(const commit::CommitInfo& info, std::string_view key, std::string fallback) {
    auto it = info.metadata.find(std::string(key));
    return it == info.metadata.end() ? fallback : it->second;
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
    Fd file(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
    int in = file.get();
    if (in < 0) throw SysError<ImageError>(errno, "open '{}'", from.string());
    auto fail = [&](const char* what) {
        throw SysError<ImageError>(errno, "copy '{}' to '{}': {}", from.string(), out_name.string(), what);
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
// What an image run makes, decided before anything is written: the commit, its settings, the disk's
// shape and identifiers.
struct Plan {
    commit::CommitInfo info;
    ImageSettings settings;
    std::string name;
    std::vector<std::string> formats, boot;
    OutputPlan outputs; // the disk files, and which each platform imports
    std::uint64_t size = 0;
    std::string seed; // the disk's identifiers derive from it
    DiskLayout layout;
    RootFs root;
    std::vector<std::string> kernel_args;
    std::string stem; // the artifacts' file name without extension
};

// The commit to image. A commit named by its checksum may be on its way into the repository still
// (build publishes it while it images); a ref is the repository's.
commit::CommitInfo read_source(const ImageOptions& options) {
    bool checksum = options.ref.size() == 64 && options.ref.find_first_not_of("0123456789abcdef") == std::string::npos;
    return commit::read_commit(
        checksum && has_commit(options.build_repo, options.ref) ? options.build_repo : options.repo, options.ref);
}

// root= and rw, the recipe's arguments, and the serial console a cloud platform reads.
std::vector<std::string> kernel_arguments(const Plan& plan, const std::string& ref) {
    std::vector<std::string> kargs = {"root=UUID=" + plan.root.uuid, "rw"};
    for (const auto& arg : plan.settings.kernel_args.value_or(std::vector<std::string>{})) {
        // The commit's settings come from a recipe the recipe stage checked, but a commit made by an older
        // imgbuild (or by hand) may carry anything: what the disk's boot depends on is imgbuild's alone.
        bool one_word = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char c) {
            return static_cast<unsigned char>(c) > ' ' && c != '\x7f';
        });
        if (arg.starts_with("root=") || arg.starts_with("ostree=") || !one_word)
            throw ImageError("Failed to image '{}': its kernel argument '{}' is {}; build the commit again from a "
                             "recipe without it",
                             ref, arg, one_word ? "imgbuild's to set" : "not one word of printable characters");
        kargs.push_back(arg);
    }
    auto platforms = plan.settings.platforms_or_default();
    bool cloud = contains(platforms, "ecs") || contains(platforms, "cvm");
    if (cloud && !contains(kargs, "console=ttyS0,115200n8")) kargs.push_back("console=ttyS0,115200n8");
    return kargs;
}

// What the recipe said about its images travels in the commit (commit::key::image), so the image stage
// needs only the repository and the ref.
Plan plan_image(const ImageOptions& options) {
    Plan plan;
    plan.info = read_source(options);
    plan.settings = settings_of(plan.info);
    plan.name = plan.settings.name.empty() ? metadata_or(plan.info, commit::key::recipe, "image") : plan.settings.name;
    if (plan.name.empty()) plan.name = "image";
    plan.formats = options.formats.empty() ? plan.settings.formats_or_default() : options.formats;
    plan.boot = options.boot.empty() ? plan.settings.boot_or_default() : options.boot;
    check_formats(plan.formats);
    check_boot(plan.boot);
    plan.outputs =
        plan_outputs(plan.formats, plan.settings.compress_or_default(), plan.settings.platforms_or_default());
    plan.size = plan.settings.size_or_default();

    // Every identifier from the commit and the disk's shape: the same commit, the same bytes. The root
    // filesystem's UUID and hash seed are the image's (its name and size), the same from build to
    // build: every inode and directory block carries a checksum seeded by the UUID, so consecutive
    // builds' filesystems then differ only where their trees do, and their qcow2s share clusters.
    plan.seed = fmt::format("{}\n{}\n{}", plan.info.checksum, plan.name, plan.size);
    plan.layout = plan_disk(plan.size, plan.seed);
    std::string image_seed = fmt::format("{}\n{}", plan.name, plan.size);
    plan.root =
        RootFs{{}, derived_uuid(image_seed, "root-fs"), derived_uuid(image_seed, "root-fs-hash"), plan.info.timestamp};
    plan.kernel_args = kernel_arguments(plan, options.ref);
    plan.stem = plan.name + "-" + (plan.info.version.empty() ? plan.info.checksum.substr(0, 12) : plan.info.version);
    return plan;
}

// The sysroot: the commit deployed as a node would have it, with the recipe's remote as origin; then
// GRUB (the menu, the modules, the core images).
struct Sysroot {
    DeploySpec spec;
    fs::path deployment; // the deployed tree
    CoreImages core;
};

Sysroot deploy_sysroot(Plan& plan, const ImageOptions& options, const fs::path& work, StageTimes& times) {
    plan.root.tree = work / "sysroot";
    fs::create_directories(plan.root.tree);
    Sysroot sysroot;
    DeploySpec& spec = sysroot.spec;
    spec.sysroot = plan.root.tree;
    spec.source_repo = has_commit(options.build_repo, plan.info.checksum) ? options.build_repo : options.repo;
    spec.checksum = plan.info.checksum;
    spec.ref = metadata_or(plan.info, commit::key::ref, options.ref);
    spec.osname = plan.name;
    spec.kernel_args = plan.kernel_args;
    if (const auto& remote = plan.settings.remote)
        spec.remote = Remote{remote->name, remote->url, remote->ed25519_key.value_or("")};
    // GRUB's core images need only the root's UUID: made while the commit deploys.
    auto core_images = std::async(std::launch::async, [&] { return make_core_images(work, plan.root.uuid); });
    times.run("image.deploy", [&] { deploy(spec); });
    sysroot.deployment = plan.root.tree / "ostree/deploy" / plan.name / "deploy" / (plan.info.checksum + ".0");
    if (!spec.remote) log::warn("the recipe has no ostree.remote: nodes of this image have nowhere to upgrade from");

    GrubSettings grub{plan.root.uuid, true, 1};
    sysroot.core = times.run("image.grub", [&] {
        install_grub_files(plan.root.tree, grub);
        return core_images.get();
    });
    return sysroot;
}

// One qcow2 of the plan: its file, and when compressed the cache of its clusters for the next build.
struct Qcow2Output {
    Qcow2Output(DiskOutput spec, const fs::path& path) : disk(std::move(spec)), file(path) {}
    DiskOutput disk;
    AtomicFile file;
    std::optional<ClusterCache> clusters;
    Qcow2Result written;
};

// The files an image run publishes, renamed into place only when everything is whole.
struct Outputs {
    std::optional<AtomicFile> raw;
    std::list<Qcow2Output> qcow2s; // AtomicFile does not move
};

// Where the raw disk is made: in memory (tmpfs) when it fits, since mke2fs writes it in 4 KiB pieces,
// which costs a disk-backed filesystem twice the time; the raw artifact is then a sparse copy of it.
// Empty: in the raw artifact itself.
fs::path choose_scratch(const Plan& plan, const ImageOptions& options, const fs::path& work, Outputs& out) {
    bool want_raw = std::any_of(plan.outputs.disks.begin(), plan.outputs.disks.end(),
                                [](const DiskOutput& disk) { return disk.format == "raw"; });
    if (want_raw) out.raw.emplace(options.outdir / (plan.stem + ".raw"));
    fs::path scratch = scratch_disk(plan.layout.size);
    if (scratch.empty() && !want_raw) scratch = work / "disk.raw";
    return scratch;
}

// The raw disk: partitions, ESP, root filesystem, BIOS boot code. Returns its path.
fs::path make_disk(const Plan& plan, const CoreImages& core, const fs::path& scratch, Outputs& out, StageTimes& times) {
    fs::path disk = scratch.empty() ? out.raw->temp_path() : scratch;
    if (!scratch.empty()) {
        Fd fd(::open(scratch.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!fd) throw SysError<ImageError>(errno, "create '{}'", scratch.string());
    }
    log::debug("image: the disk is made in {}", disk.string());
    times.run("image.disk", [&] {
        if (::truncate(disk.c_str(), static_cast<off_t>(plan.layout.size)) != 0)
            throw SysError<ImageError>(errno, "size '{}'", disk.string());
        write_partition_table(disk, plan.layout);
        if (contains(plan.boot, "uefi")) make_esp(disk, plan.layout, core.efi, plan.seed, plan.root.epoch);
        make_root(disk, plan.layout, plan.root);
        if (contains(plan.boot, "bios")) install_bios_boot(disk, plan.layout, core.boot_img, core.bios);
    });
    return disk;
}

// What needs the sysroot: the root filesystem's size and the SBOM (when the commit carries its lock).
struct Description {
    std::uint64_t rootfs_size = 0;
    std::optional<resolve::Lock> lock;
    std::string sbom_text;
};

Description describe(const Plan& plan, const fs::path& deployment, StageTimes& times) {
    Description description;
    description.rootfs_size = tree_bytes(deployment);
    if (auto it = plan.info.metadata.find(std::string(commit::key::lock)); it != plan.info.metadata.end())
        description.lock =
            resolve::lock_from_json(json::parse(it->second), fmt::format("the commit's {}", commit::key::lock));
    if (!description.lock) return description;
    description.sbom_text = times.run("image.sbom", [&] {
        return sbom(SbomInput{*description.lock, deployment, plan.name, plan.info.version, plan.info.checksum,
                              plan.root.epoch, metadata_or(plan.info, commit::key::tool, "imgbuild")})
                   .dump(2) +
               "\n";
    });
    return description;
}

// qcow2 (compat 1.1). Compressed, imgbuild writes it (qcow2.hpp): on every core, and reusing the
// clusters the recipe's last image of that compression had (the cache's key names the compressor, so a
// zstd and a zlib qcow2 of one image each reuse their own); uncompressed, qemu-img.
void write_qcow2(const Plan& plan, const ImageOptions& options, const fs::path& disk, Qcow2Output& out,
                 ImageResult& result) {
    const std::string& compress = out.disk.compression;
    if (compress == "none") {
        run_tool({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", "compat=1.1", disk.string(),
                  out.file.temp_path().string()},
                 "convert the disk to qcow2");
        return;
    }
    out.clusters.emplace(
        options.cache_dir / "image",
        sha256_hex(fmt::format("{}\n{}\n{}\n{}", plan.name, compress, compressor_identity(compress), plan.layout.size))
            .substr(0, 32));
    auto source = out.clusters->open();
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    Qcow2Options qcow2_options{compress, options.jobs ? std::min(options.jobs, cores) : cores, source.get()};
    out.written = write_compressed_qcow2(disk, out.file.fd(), out.file.temp_path(), qcow2_options);
    log::debug("image: {}: {} clusters with data: {} compressed, {} from the last image, {} stored",
               out.file.path().filename().string(), out.written.clusters, out.written.compressed, out.written.reused,
               out.written.stored);
    result.qcow2s.push_back({out.disk.key, compress, out.written.clusters, out.written.reused});
}

// The artifacts: the raw one (copied out of memory) and its checksum while the qcow2 is written. Each
// is flushed to the disk as soon as it is written, alongside the rest (its rename waits for that).
void write_artifacts(const Plan& plan, const ImageOptions& options, const fs::path& disk, const fs::path& scratch,
                     Outputs& out, ImageResult& result, StageTimes& times) {
    auto flush = [](int fd) { ::fdatasync(fd); };
    std::future<Checksum> raw_sum;
    std::future<void> raw_copied;
    if (out.raw) {
        raw_sum = std::async(std::launch::async, [disk] { return checksum_file(disk, DigestType::sha256); });
        raw_copied = std::async(std::launch::async, [&] {
            if (!scratch.empty()) {
                ScopedTimer timer("image: copy the raw disk out of memory");
                copy_sparse(scratch, out.raw->fd(), out.raw->temp_path(), plan.layout.size);
            }
            flush(out.raw->fd());
        });
    }
    // The qcow2s one after the other, each on every core: the recipe's, then any a cloud imports.
    std::vector<std::future<void>> qcow2_flushed;
    for (const auto& spec : plan.outputs.disks) {
        if (spec.format != "qcow2") continue;
        auto& qcow2 = out.qcow2s.emplace_back(spec, options.outdir / (plan.stem + spec.suffix));
        times.run("image." + spec.key, [&] { write_qcow2(plan, options, disk, qcow2, result); });
        qcow2_flushed.push_back(std::async(std::launch::async, flush, qcow2.file.fd()));
    }
    times.run("image.checksums", [&] {
        if (raw_copied.valid()) raw_copied.get();
        if (raw_sum.valid())
            result.artifacts.push_back(Artifact{"raw", "raw", "none", out.raw->path(), plan.layout.size,
                                                allocated_bytes(out.raw->temp_path()), raw_sum.get().hex});
        for (const auto& qcow2 : out.qcow2s) {
            const fs::path& path = qcow2.file.temp_path();
            result.artifacts.push_back(Artifact{qcow2.disk.key, "qcow2", qcow2.disk.compression, qcow2.file.path(),
                                                fs::file_size(path), allocated_bytes(path),
                                                checksum_file(path, DigestType::sha256).hex});
        }
    });
    for (auto& flushed : qcow2_flushed) flushed.get();
}

ManifestDisk disk_of(const Plan& plan) {
    const DiskLayout& layout = plan.layout;
    return ManifestDisk{layout.size,
                        layout.label_id,
                        plan.root.uuid,
                        {{"bios", layout.bios.uuid, layout.bios.start, layout.bios.sectors},
                         {"esp", layout.esp.uuid, layout.esp.start, layout.esp.sectors},
                         {"root", layout.root.uuid, layout.root.start, layout.root.sectors}}};
}

// manifest.json: the image, the disk, the artifacts, every stage's seconds, the build's digests, and
// what `imgbuild test` checks inside the booted image (the recipe's sysctl, modules-load, units).
Manifest manifest_of(const Plan& plan, const Sysroot& sysroot, const Description& description,
                     const ImageResult& result, std::map<std::string, double> timings) {
    Manifest manifest;
    manifest.name = plan.name;
    manifest.version = plan.info.version;
    manifest.commit = plan.info.checksum;
    manifest.ref = sysroot.spec.ref;
    manifest.kernel = metadata_or(plan.info, "ostree.linux", "");
    manifest.kernel_args = plan.kernel_args;
    manifest.boot = plan.boot;
    manifest.disk = disk_of(plan);
    manifest.rootfs_size = description.rootfs_size;
    manifest.artifacts.emplace();
    for (const auto& artifact : result.artifacts)
        (*manifest.artifacts)[artifact.key] = {artifact.path.filename().string(),
                                               artifact.size,
                                               artifact.allocated,
                                               artifact.sha256,
                                               artifact.format,
                                               artifact.format == "qcow2" ? std::optional(artifact.compression)
                                                                          : std::nullopt};
    manifest.platforms.emplace();
    for (const auto& platform : plan.outputs.platforms) {
        const auto& artifact = manifest.artifacts->at(platform.key);
        (*manifest.platforms)[platform.platform] = {platform.key, artifact.file, platform.format, platform.compression,
                                                    platform.import_page.empty() ? std::nullopt
                                                                                 : std::optional(platform.import_page)};
    }
    manifest.sha256sums = std::string(sha256sums_name);
    manifest.timings = std::move(timings);
    auto digest = [&](std::string_view key) -> std::optional<std::string> {
        auto it = plan.info.metadata.find(std::string(key));
        return it == plan.info.metadata.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    manifest.recipe_digest = digest(commit::key::recipe_digest);
    manifest.lock_digest = digest(commit::key::lock_digest);
    manifest.inputs_digest = digest(commit::key::inputs_digest);
    if (description.lock) {
        manifest.packages = description.lock->packages.size();
        manifest.sbom = ManifestSbom{"sbom.spdx.json", sha256_hex(description.sbom_text)};
        manifest.source_date_epoch = description.lock->source_date_epoch;
    }
    if (const auto& remote = sysroot.spec.remote) manifest.remote = RemoteSettings{remote->name, remote->url, {}};
    manifest.checks = plan.settings.checks;
    return manifest;
}

// Everything is whole: the SBOM and lock, the images get their names, SHA256SUMS lists them all, then
// the manifest that describes them.
void publish(const ImageOptions& options, const Description& description, Outputs& out, const ImageResult& result) {
    std::map<std::string, std::string> sums; // file name → sha256
    for (const auto& artifact : result.artifacts) sums[artifact.path.filename().string()] = artifact.sha256;
    if (description.lock) {
        std::string lock_text = resolve::lock_text(*description.lock);
        write_file_atomic(options.outdir / "sbom.spdx.json", description.sbom_text);
        write_file_atomic(options.outdir / "lock.json", lock_text);
        sums["sbom.spdx.json"] = sha256_hex(description.sbom_text);
        sums["lock.json"] = sha256_hex(lock_text);
    } else {
        log::warn("the commit carries no lock (not built by this imgbuild): no SBOM");
    }
    if (out.raw) out.raw->commit();
    for (auto& qcow2 : out.qcow2s) {
        qcow2.file.commit();
        // The next build of this image reuses the qcow2's clusters.
        if (!qcow2.clusters) continue;
        try {
            qcow2.clusters->remember(qcow2.file.path(), qcow2.written.index);
        } catch (const std::exception& e) {
            log::warn("could not keep the clusters of '{}' in the cache: {}", qcow2.file.path().filename().string(),
                      e.what());
        }
    }
    write_file_atomic(options.outdir / sha256sums_name, sha256sums_text(sums));
    write_file_atomic(options.outdir / "manifest.json", json(result.manifest).dump(2) + "\n");
}

} // namespace

ImageResult make_image(const ImageOptions& options) {
    ScopedTimer whole("image");
    StageTimes times;
    // 1. The commit and its settings: what to make, every identifier decided.
    Plan plan = plan_image(options);
    ImageResult result;
    result.commit = plan.info.checksum;
    result.version = plan.info.version;

    fs::create_directories(options.outdir);
    fs::path work = options.cache_dir / "work" / fmt::format("image-{}", ::getpid());
    RemoveOnExit remove_work{work};
    fs::remove_all(work);
    fs::create_directories(work);

    // 2. The sysroot, and GRUB.
    Sysroot sysroot = deploy_sysroot(plan, options, work, times);
    // 3. The raw disk.
    Outputs out;
    fs::path scratch = choose_scratch(plan, options, work, out);
    RemoveOnExit remove_scratch{scratch};
    fs::path disk = make_disk(plan, sysroot.core, scratch, out, times);
    // 4. What needs the sysroot (the rootfs size, the SBOM); then the sysroot goes while the images are
    // written.
    Description description = describe(plan, sysroot.deployment, times);
    auto removed = std::async(std::launch::async, [tree = plan.root.tree] {
        std::error_code ec;
        fs::remove_all(tree, ec);
    });
    // 5. The artifacts: raw, qcow2, their checksums.
    write_artifacts(plan, options, disk, scratch, out, result, times);
    removed.get();

    // 6. The manifest, then everything is published.
    std::map<std::string, double> timings = options.stage_seconds;
    for (const auto& [stage, seconds] : times.seconds()) timings[stage] = seconds;
    timings["image"] = whole.seconds();
    result.manifest = manifest_of(plan, sysroot, description, result, std::move(timings));
    publish(options, description, out, result);
    log::info("imaged {} {} ({}) in {:.1f} s: {}", plan.name, plan.info.version, plan.info.checksum.substr(0, 12),
              whole.seconds(), options.outdir.string());
    return result;
}

} // namespace imgbuild::image
