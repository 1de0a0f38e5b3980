// The kernel where ostree looks for it, and its initramfs. dracut takes several seconds even for a
// small image, and what it makes depends only on what it reads: its arguments and configuration, the
// kernel, which paths exist in the root (its modules look for programs, libraries and drivers by
// path), and the content of the files it copies in. The cache has two levels. The first key is all but
// the last (the root's paths as a list, not their content); under it a manifest names the root files
// the image built for that key copied. The second key adds those files' digests, and names the image.
// A package upgrade that changes no path and no file dracut copies (most libraries and tools of a
// node) so reuses the image; dracut --reproducible makes a rebuilt one the same bytes.

#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/timer.hpp"
#include "steps.hpp"

namespace imgbuild::customize {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Bump when the dracut command line changes in a way the key does not capture.
constexpr int dracut_recipe_version = 2;

// Not looked at by dracut, and changed by every install: left out of the root's path list.
const char* const unlisted[] = {"proc", "sys", "dev", "run", "tmp", "var/tmp", "var/log", "var/cache", "boot"};

// Every path of the root (symlinks with their targets), one per line, sorted.
std::string path_list(const fs::path& root) {
    std::vector<std::string> lines;
    std::set<fs::path> skipped;
    for (const char* dir : unlisted) skipped.insert(root / dir);
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::none, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (skipped.contains(it->path())) {
            it.disable_recursion_pending();
            continue;
        }
        std::string line = it->path().lexically_relative(root).string();
        auto status = it->symlink_status(ec);
        if (fs::is_symlink(status))
            line += " -> " + fs::read_symlink(it->path(), ec).string();
        else if (fs::is_directory(status))
            line += "/";
        lines.push_back(std::move(line));
    }
    std::sort(lines.begin(), lines.end());
    std::string text;
    for (const auto& line : lines) text += line + "\n";
    return text;
}

// The file `path` (relative) names in the root, its symlinks followed inside the root; empty when it
// is not a regular file there.
fs::path file_in_root(const fs::path& root, const fs::path& path) {
    fs::path current = root / path;
    for (int hops = 0; hops < 40; ++hops) {
        std::error_code ec;
        auto status = fs::symlink_status(current, ec);
        if (fs::is_regular_file(status)) return current;
        if (!fs::is_symlink(status)) return {};
        fs::path target = fs::read_symlink(current, ec);
        current = target.is_absolute() ? root / target.relative_path() : current.parent_path() / target;
    }
    return {};
}

// The regular files in the image (paths relative to its root), as the root's own lsinitrd lists them
// (`ls -l` lines: mode, links, owner, group, size, month, day, year or time, path).
std::vector<std::string> initramfs_files(const fs::path& root, const std::string& image) {
    install::Sandbox sandbox;
    sandbox.root = root;
    sandbox.env = {"LC_ALL=C.UTF-8", "HOME=/root", "TMPDIR=/tmp"};
    auto result = install::run_sandboxed(sandbox, {"lsinitrd", image});
    if (!result.ok())
        throw CustomizeError("Failed to list the initramfs: lsinitrd {}:\n{}", result.status(), result.tail(30));
    std::vector<std::string> files;
    std::istringstream lines(result.output);
    for (std::string line; std::getline(lines, line);) {
        if (line.size() < 11 || line[0] != '-' || line.find_first_not_of("rwxsStT-", 1) < 10) continue;
        std::istringstream fields(line);
        std::string field;
        for (int i = 0; i < 8 && fields >> field; ++i) {
        }
        std::string path;
        std::getline(fields >> std::ws, path);
        if (!path.empty()) files.push_back(path);
    }
    std::sort(files.begin(), files.end());
    return files;
}

// The second key: the first, and the digest of each named root file (a file gone counts too).
std::string content_key(const std::string& first_key, const fs::path& root, const std::vector<std::string>& files) {
    json digests = json::array();
    for (const auto& path : files) {
        fs::path file = file_in_root(root, path);
        digests.push_back({path, file.empty() ? "" : checksum_file(file, DigestType::sha256).hex});
    }
    return sha256_hex(first_key + digests.dump());
}

// A cached image is used only while it is a regular file with the sha256 recorded when it was stored
// (IMAGE.img.sha256); a damaged one is removed, and dracut makes it again.
bool cached_image_intact(const fs::path& image) {
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(image, ec))) return false;
    if (matches_recorded_digest(image)) return true;
    if (!recorded_digest(image) && fs::is_regular_file(fs::symlink_status(image, ec)))
        log::debug("not using the cached initramfs '{}': it has no digest record (an older imgbuild made it)",
                   image.string());
    else
        log::warn("discarding the cached initramfs '{}': it no longer matches the digest recorded when it was made",
                  image.string());
    discard_cached_file(image);
    return false;
}

// Moves what `from` leads to in the root (a link's target, not the link) to `to`.
void move_file(RootDir& root, const fs::path& from, const fs::path& to) {
    if (!root.lstat(from)) return;
    std::string source = root.resolve(from), target = root.resolve(to, false);
    if (source == target) return;
    if (root.lstat(target)) root.remove(target);
    root.rename(source, target);
}

} // namespace

void place_kernel(const Kernel& kernel, RootDir& root, const CustomizeOptions& options) {
    // The kernel's paths are host paths resolved in this root (find_kernel): as paths in the image here.
    auto inside = [&](const fs::path& path) { return path.lexically_relative(root.path()); };
    fs::path modules = inside(kernel.modules);
    move_file(root, inside(kernel.image), modules / "vmlinuz");
    if (!kernel.config.empty()) move_file(root, inside(kernel.config), modules / "config");
    move_file(root, fs::path("boot") / ("System.map-" + kernel.version), modules / "System.map");
    if (!root.exists(modules / "modules.dep"))
        run_in_root(root.path(), {"depmod", "-a", kernel.version}, "index the kernel's modules", options);
}

bool build_initramfs(const recipe::Recipe& recipe, const Kernel& kernel, const fs::path& root,
                     const CustomizeOptions& options) {
    const json& initramfs = recipe.json().value("initramfs", json::object());
    if (!fs::exists(root / "usr/bin/dracut"))
        throw CustomizeError("Failed to build the initramfs: the image has no dracut (add it to packages, or set "
                             "initramfs.enabled: false)");
    std::vector<std::string> drivers = initramfs.value("drivers", std::vector<std::string>{});

    KernelConfig config;
    if (fs::exists(kernel.modules / "config")) config = read_kernel_config(kernel.modules / "config");
    // zstd unpacks fastest at boot, when the kernel can and the image has the compressor; else gzip
    // (Essential on Debian, and every kernel reads it).
    bool zstd = config["CONFIG_RD_ZSTD"] == 'y' && (fs::exists(root / "usr/bin/zstd") || fs::exists(root / "bin/zstd"));
    std::string compress = zstd ? "zstd" : "gzip";
    std::string target = "/usr/lib/modules/" + kernel.version + "/initramfs.img";
    std::vector<std::string> argv{"dracut",       "--reproducible", "--no-hostonly", "--force",    "--kver",
                                  kernel.version, "--add",          "ostree",        "--compress", compress};
    // minimal: the recipe's drivers are the only ones (dracut's kernel-modules then skips its generic
    // set of every storage, USB and input driver: 743 modules, 81 MiB unpacked, for the default
    // recipe), and the dracut modules for storage stacks a node's plain root does not use are left out.
    bool minimal = initramfs.value("minimal", false);
    if (minimal && drivers.empty())
        throw CustomizeError("Failed to build the initramfs: initramfs.minimal needs initramfs.drivers (the disk and "
                             "filesystem drivers the image boots with)");
    if (!drivers.empty())
        argv.insert(argv.end(), {minimal ? "--drivers" : "--add-drivers", fmt::format("{}", fmt::join(drivers, " "))});
    if (minimal) argv.insert(argv.end(), {"--omit", "crypt dm nvdimm lunmask resume"});
    argv.push_back(target);

    // The first key: dracut's arguments and configuration, the kernel, the root's paths.
    json inputs = {{"version", dracut_recipe_version}, {"kernel", kernel.version}, {"argv", argv}};
    for (const char* dir : {"etc/dracut.conf.d", "usr/lib/dracut/dracut.conf.d"}) {
        std::error_code ec;
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(root / dir, ec)) files.push_back(entry.path());
        std::sort(files.begin(), files.end());
        for (const auto& file : files) inputs["config"][fs::path(dir) / file.filename()] = read_file(file);
    }
    if (fs::exists(root / "etc/dracut.conf")) inputs["config"]["etc/dracut.conf"] = read_file(root / "etc/dracut.conf");
    inputs["paths"] = sha256_hex(path_list(root));
    std::string first_key = sha256_hex(inputs.dump());
    fs::path cache = options.cache_dir / "initramfs";
    fs::path manifest = cache / (first_key + ".json");
    fs::path placed = root / fs::path(target).relative_path();

    // One mode whichever way it came (dracut makes it 0600): the commit must not depend on the cache.
    auto readable = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read;
    if (fs::exists(manifest)) {
        json copied = json::parse(read_file(manifest), nullptr, false);
        if (copied.is_object() && copied.value("files", json()).is_array()) {
            fs::path cached =
                cache / (content_key(first_key, root, copied["files"].get<std::vector<std::string>>()) + ".img");
            if (cached_image_intact(cached)) {
                fs::remove(placed); // never write through a file: it may be a hardlink of the tree cache
                fs::copy_file(cached, placed);
                fs::permissions(placed, readable);
                log::info("initramfs for {} from the cache", kernel.version);
                return true;
            }
        }
    }
    {
        ScopedTimer timer("dracut");
        log::info("building the initramfs for {} with dracut", kernel.version);
        run_in_root(root, argv, "build the initramfs", options);
    }
    fs::permissions(placed, readable);
    // Cached only when the image can say what it holds (its lsinitrd needs cpio and the decompressor).
    std::vector<std::string> files;
    try {
        files = initramfs_files(root, target);
    } catch (const CustomizeError& e) {
        log::warn("the initramfs is not cached: {}", e.what());
        return false;
    }
    AtomicFile copy(cache / (content_key(first_key, root, files) + ".img"));
    std::ifstream in(placed, std::ios::binary);
    char buffer[1 << 16];
    Hasher digest(DigestType::sha256); // recorded with the image, checked before it is used again
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
        copy.write(std::string_view(buffer, static_cast<std::size_t>(in.gcount())));
        digest.update(buffer, static_cast<std::size_t>(in.gcount()));
    }
    discard_cached_file(copy.path());
    copy.commit();
    record_digest(copy.path(), digest.hex());
    write_file_atomic(manifest, json{{"kernel", kernel.version}, {"files", files}}.dump(1) + "\n");
    return false;
}

} // namespace imgbuild::customize
