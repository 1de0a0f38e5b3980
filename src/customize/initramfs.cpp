// The kernel where ostree looks for it, and its initramfs. dracut takes most of a minute, and its
// result depends only on what it reads: the root's packages (the lock), the driver list, the dracut
// configuration and our arguments. Those are hashed into a key; an initramfs built for the same key
// is copied from the cache instead of built again (dracut --reproducible makes it the same bytes).

#include <fstream>

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
constexpr int dracut_recipe_version = 1;

void move_file(const fs::path& from, const fs::path& to) {
    if (!fs::exists(fs::symlink_status(from))) return;
    if (fs::exists(fs::symlink_status(to))) fs::remove(to);
    fs::rename(from, to);
}

} // namespace

void place_kernel(const Kernel& kernel, const fs::path& root, const CustomizeOptions& options) {
    move_file(kernel.image, kernel.modules / "vmlinuz");
    if (!kernel.config.empty()) move_file(kernel.config, kernel.modules / "config");
    move_file(root / "boot" / ("System.map-" + kernel.version), kernel.modules / "System.map");
    if (!fs::exists(kernel.modules / "modules.dep"))
        run_in_root(root, {"depmod", "-a", kernel.version}, "index the kernel's modules", options);
}

bool build_initramfs(const recipe::Recipe& recipe, const resolve::Lock& lock, const Kernel& kernel,
                     const fs::path& root, const CustomizeOptions& options) {
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

    // The cache key: everything dracut reads from outside its own package.
    json inputs = {{"version", dracut_recipe_version}, {"kernel", kernel.version}, {"argv", argv}};
    for (const auto& package : lock.packages)
        inputs["packages"].push_back(package.name + " " + package.version + " " + package.checksum.str());
    for (const char* dir : {"etc/dracut.conf.d", "usr/lib/dracut/dracut.conf.d"}) {
        std::error_code ec;
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(root / dir, ec)) files.push_back(entry.path());
        std::sort(files.begin(), files.end());
        for (const auto& file : files) inputs["config"][fs::path(dir) / file.filename()] = read_file(file);
    }
    if (fs::exists(root / "etc/dracut.conf")) inputs["config"]["etc/dracut.conf"] = read_file(root / "etc/dracut.conf");
    std::string key = sha256_hex(inputs.dump());
    fs::path cached = options.cache_dir / "initramfs" / (key + ".img");
    fs::path placed = root / fs::path(target).relative_path();

    // One mode whichever way it came (dracut makes it 0600): the commit must not depend on the cache.
    auto readable = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read;
    if (fs::exists(cached)) {
        fs::remove(placed); // never write through a file: it may be a hardlink of the tree cache
        fs::copy_file(cached, placed);
        fs::permissions(placed, readable);
        log::info("initramfs for {} from the cache", kernel.version);
        return true;
    }
    {
        ScopedTimer timer("dracut");
        log::info("building the initramfs for {} with dracut", kernel.version);
        run_in_root(root, argv, "build the initramfs", options);
    }
    fs::permissions(placed, readable);
    AtomicFile copy(cached);
    std::ifstream in(placed, std::ios::binary);
    char buffer[1 << 16];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0)
        copy.write(std::string_view(buffer, static_cast<std::size_t>(in.gcount())));
    copy.commit();
    return false;
}

} // namespace imgbuild::customize
