// Debian installs. Like mmdebstrap: the Essential set is unpacked with libarchive so the root has a
// shell and dpkg, then the root's own dpkg installs the Essential packages properly (registering them,
// running their maintainer scripts) and then everything else, inside the sandbox, with
// policy-rc.d forbidding service starts and INITRD=No so the kernel's postinst builds no initramfs
// (dracut builds the real one later). /usr is merged, as debootstrap and ostree want it. What imgbuild
// writes and reads in the root itself goes through a RootDir (no link there leads out); the bootstrap
// set's files go through libarchive's SECURE_SYMLINKS and SECURE_NODOTDOT checks.

#include "deb.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "deb_cache.hpp"
#include "differences.hpp"
#include "imgbuild/core/deb822.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/root_dir.hpp"
#include "imgbuild/install/sandbox.hpp"
#include "wrap/archive.hpp"

namespace imgbuild::install {
namespace {

namespace fs = std::filesystem;

// Top-level directories that merged /usr turns into symlinks into /usr.
const char* const merged_dirs[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};

// "./bin/sh" → "usr/bin/sh"; other paths lose their "./".
std::string merged_path(std::string_view path) {
    while (path.starts_with("./")) path.remove_prefix(2);
    while (path.starts_with('/')) path.remove_prefix(1);
    for (const char* dir : merged_dirs) {
        std::string_view name(dir);
        if (path == name || (path.starts_with(name) && path.size() > name.size() && path[name.size()] == '/'))
            return "usr/" + std::string(path);
    }
    return std::string(path);
}

void prepare_root(RootDir& root) {
    root.create_directories("usr");
    for (const char* dir : merged_dirs) {
        if (std::string_view(dir) == "lib32" || std::string_view(dir) == "libx32") continue;
        root.create_directories(fs::path("usr") / dir);
        root.create_symlink(fs::path("usr") / dir, dir);
    }
    for (const char* dir :
         {"etc", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/lib/dpkg/alternatives",
          "var/cache", "var/log", "proc", "sys", "dev", "run", "root", "tmp"})
        root.create_directories(dir);
    root.chmod("tmp", 01777);
    root.chmod("root", 0700);
    for (const char* file : {"var/lib/dpkg/status", "var/lib/dpkg/available"}) root.write(file, "");
    root.write("var/lib/dpkg/arch", "amd64\n");
}

std::map<std::string, std::string> installed_packages(const RootDir& root, std::vector<std::string>& half_installed) {
    std::map<std::string, std::string> installed;
    std::string status = root.read("var/lib/dpkg/status");
    deb822::for_each_paragraph(status, [&](const deb822::Paragraph& paragraph) {
        std::string name(deb822::field(paragraph, "Package"));
        std::string state(deb822::field(paragraph, "Status"));
        if (state == "install ok installed")
            installed[name] = deb822::field(paragraph, "Version");
        else if (!state.ends_with("not-installed"))
            half_installed.push_back(fmt::format("{} ({})", name, state));
    });
    return installed;
}

// The packages dpkg names in its errors ("dpkg: error processing package foo (--configure):").
std::vector<std::string> failed_packages(const std::string& output) {
    static const std::regex pattern(R"(error processing (?:package|archive) ([^ ]+?)(?: \(|:|$))");
    std::set<std::string> names;
    for (std::sregex_iterator it(output.begin(), output.end(), pattern), end; it != end; ++it) {
        std::string name = (*it)[1].str();
        auto slash = name.rfind('/');
        if (slash != std::string::npos) name = name.substr(slash + 1); // an archive path: keep the file name
        names.insert(name);
    }
    return {names.begin(), names.end()};
}

std::vector<std::string> split_words(const std::string& line) {
    std::istringstream words(line);
    return {std::istream_iterator<std::string>(words), {}};
}

// dpkg of the root, run in the sandbox: `sandbox_root` is what the sandbox shows as / (the root, or a
// copy-on-write view of it), the packages directory is read-only at /run/imgbuild/packages, and
// policy-rc.d forbids every service start until finish().
class Dpkg {
public:
    Dpkg(const fs::path& root, const fs::path& sandbox_root, const fs::path& packages_dir,
         const InstallOptions& options)
        : m_root(root), m_packages_dir(packages_dir), m_options(options) {
        m_root.write(policy_rc_d, "#!/bin/sh\n# imgbuild: no service starts while the image is built\nexit 101\n",
                     {0755});
        m_sandbox.root = sandbox_root;
        m_sandbox.read_only.push_back({packages_dir, "/run/imgbuild/packages"});
        m_sandbox.env = {"DEBIAN_FRONTEND=noninteractive",
                         "DEBCONF_NONINTERACTIVE_SEEN=true",
                         "DEBIAN_PRIORITY=critical",
                         "LC_ALL=C.UTF-8",
                         "LANG=C.UTF-8",
                         "INITRD=No",
                         "HOME=/root",
                         "TMPDIR=/tmp",
                         fmt::format("SOURCE_DATE_EPOCH={}", options.source_date_epoch)};
        m_argv = {"dpkg", "--force-unsafe-io", "--force-depends"};
        if (!options.docs) {
            auto filters = nodoc_dpkg_options();
            m_argv.insert(m_argv.end(), filters.begin(), filters.end());
        }
    }
    ~Dpkg() { finish(); }
    Dpkg(const Dpkg&) = delete;
    Dpkg& operator=(const Dpkg&) = delete;

    // dpkg ARGS PACKAGES…; a failure names the packages dpkg names.
    void run(const std::vector<std::string>& args, const std::vector<fs::path>& packages, const char* step) {
        std::vector<std::string> argv = m_argv;
        argv.insert(argv.end(), args.begin(), args.end());
        for (const auto& file : packages)
            if (file.parent_path() == m_packages_dir)
                argv.push_back("/run/imgbuild/packages/" + file.filename().string());
        auto started = std::chrono::steady_clock::now();
        auto result = run_sandboxed(m_sandbox, argv, m_options.on_output);
        log::debug("dpkg {}: {:.1f} s", step,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        if (!result.ok()) {
            auto failed = failed_packages(result.output);
            throw InstallError("Failed to install {}: dpkg {} while {}:\n{}",
                               failed.empty() ? std::string("the packages")
                                              : fmt::format("{}", fmt::join(failed, ", ")),
                               result.status(), step, result.tail(30));
        }
    }

    // Services may start again on the node.
    void finish() noexcept {
        try {
            m_root.remove(policy_rc_d);
        } catch (const Error& e) {
            log::warn("{}", e.what());
        }
    }

private:
    static constexpr const char* policy_rc_d = "usr/sbin/policy-rc.d";
    RootDir m_root;
    fs::path m_packages_dir;
    const InstallOptions& m_options;
    Sandbox m_sandbox;
    std::vector<std::string> m_argv;
};

// The root's package database must list exactly the lock, every package fully installed.
void check_database(const resolve::Lock& lock, const fs::path& root) {
    std::vector<std::string> half;
    auto installed = installed_packages(RootDir(root), half);
    std::vector<std::string> problems = lock_differences(lock, installed);
    for (const auto& entry : half) problems.push_back(fmt::format("{} is not fully installed", entry));
    if (!problems.empty())
        throw InstallError("Failed to install: the root's package database differs from the lock:\n  {}",
                           fmt::join(problems, "\n  "));
}

// The database the same whether the root was installed afresh or upgraded from another set: dpkg's
// copies from before its last run (status-old, …) go (no node needs them), and the file trigger
// interests (one "path package" per line, kept by dpkg in the order packages registered them) are
// sorted.
void normalize_database(const fs::path& path) {
    RootDir root(path);
    const fs::path database = "var/lib/dpkg";
    for (const auto& name : root.list(database))
        if (name.ends_with("-old")) root.remove(database / name);
    const fs::path interests = database / "triggers/File";
    if (!root.is_regular_file(interests)) return;
    std::vector<std::string> lines;
    std::istringstream text(root.read(interests));
    for (std::string line; std::getline(text, line);) lines.push_back(line);
    std::sort(lines.begin(), lines.end());
    std::string sorted;
    for (const auto& line : lines) sorted += line + "\n";
    root.write(interests, sorted, {0644});
}

} // namespace

std::vector<std::string> nodoc_dpkg_options() {
    return {"--path-exclude=/usr/share/doc/*",     "--path-include=/usr/share/doc/*/copyright",
            "--path-exclude=/usr/share/man/*",     "--path-exclude=/usr/share/info/*",
            "--path-exclude=/usr/share/locale/*",  "--path-include=/usr/share/locale/locale.alias",
            "--path-exclude=/usr/share/lintian/*", "--path-exclude=/usr/share/linda/*"};
}

bool kept_without_docs(std::string_view path) {
    // dpkg's rule: the last matching option decides.
    bool keep = true;
    std::string text(path);
    for (const auto& option : nodoc_dpkg_options()) {
        bool include = option.starts_with("--path-include=");
        std::string pattern = option.substr(option.find('=') + 1);
        if (fnmatch(pattern.c_str(), text.c_str(), 0) == 0) keep = include;
    }
    return keep;
}

void unpack_deb(const fs::path& deb, const fs::path& root, const std::function<bool(std::string_view)>& keep) {
    fs::path base = fs::canonical(root); // libarchive refuses symlinks anywhere in the path it writes
    bool unpacked = wrap::read_deb_data(deb, wrap::DebData::tar, [&](archive* data, archive_entry*) {
        wrap::ArchiveWriter disk(archive_write_disk_new());
        archive_write_disk_set_options(disk.get(), ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_TIME |
                                                       ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_FFLAGS |
                                                       ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                       ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_UNLINK);
        archive_entry* entry = nullptr;
        int result;
        while ((result = archive_read_next_header(data, &entry)) == ARCHIVE_OK) {
            std::string path = merged_path(archive_entry_pathname(entry));
            if (path.empty() || !keep("/" + path)) continue;
            archive_entry_set_pathname(entry, (base / path).c_str());
            if (const char* link = archive_entry_hardlink(entry))
                archive_entry_set_hardlink(entry, (base / merged_path(link)).c_str());
            int written = archive_write_header(disk.get(), entry);
            if (written < ARCHIVE_WARN)
                throw Error("Failed to unpack '{}' from '{}': {}", path, deb.filename().string(),
                            archive_error_string(disk.get()));
            if (archive_entry_size(entry) > 0) {
                const void* block;
                size_t size;
                la_int64_t offset;
                while ((result = archive_read_data_block(data, &block, &size, &offset)) == ARCHIVE_OK)
                    wrap::archive_check(disk.get(),
                                        static_cast<int>(archive_write_data_block(disk.get(), block, size, offset)),
                                        fmt::format("write '{}'", path));
                wrap::archive_check(data, result == ARCHIVE_EOF ? ARCHIVE_OK : result,
                                    fmt::format("read '{}' of '{}'", path, deb.string()));
            }
            wrap::archive_check(disk.get(), archive_write_finish_entry(disk.get()), fmt::format("finish '{}'", path));
        }
        wrap::archive_check(data, result == ARCHIVE_EOF ? ARCHIVE_OK : result,
                            fmt::format("read the data of '{}'", deb.string()));
        wrap::archive_check(disk.get(), archive_write_close(disk.get()), fmt::format("unpack '{}'", deb.string()));
    });
    if (!unpacked) throw Error("Failed to unpack '{}': it is not a Debian package (no data.tar member)", deb.string());
}

void install_debs(const resolve::Lock& lock, const std::vector<fs::path>& fetched, const fs::path& root,
                  const InstallOptions& options) {
    RootDir tree(root);
    prepare_root(tree);
    auto repack_start = std::chrono::steady_clock::now();
    fs::path cache =
        options.deb_cache.empty() ? fetched.front().parent_path().parent_path() / "debs" : options.deb_cache;
    const std::vector<fs::path> files = uncompressed_debs(fetched, cache, options.parallel);
    log::debug("uncompressed packages: {:.1f} s",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - repack_start).count());
    auto keep = [&](std::string_view path) { return options.docs || kept_without_docs(path); };

    // 1. The Essential set's files, so the root has a shell and dpkg.
    std::vector<std::size_t> essential, rest;
    for (std::size_t i = 0; i < lock.packages.size(); ++i) (lock.packages[i].bootstrap ? essential : rest).push_back(i);
    if (essential.empty())
        throw InstallError("Failed to install: the lock marks no package for bootstrap (the Essential packages and "
                           "what they need), so "
                           "the root would have no dpkg to install with; lock it again with this imgbuild");
    for (std::size_t i : essential) {
        try {
            unpack_deb(files[i], root, keep);
        } catch (Error& e) {
            e.add_context("while unpacking '{}', one of the Essential packages or what they need",
                          lock.packages[i].name);
            throw;
        }
    }
    if (!tree.exists("usr/bin/dpkg"))
        throw InstallError("Failed to install: no Essential package provides /usr/bin/dpkg");

    // 2. dpkg in the sandbox installs them for real.
    Dpkg dpkg(root, root, files.front().parent_path(), options);
    auto paths = [&](const std::vector<std::size_t>& indices) {
        std::vector<fs::path> chosen;
        for (std::size_t i : indices) chosen.push_back(files[i]);
        return chosen;
    };
    dpkg.run({"--install"}, paths(essential), "installing the Essential packages");
    if (!rest.empty()) {
        dpkg.run({"--unpack"}, paths(rest), "unpacking the other packages");
        dpkg.run({"--configure", "--pending"}, {}, "configuring the other packages");
    }
    dpkg.finish();

    // 3. The root's database must list exactly the lock.
    check_database(lock, root);
    normalize_database(root);
}

SetChanges set_changes(const std::vector<std::string>& installed, const resolve::Lock& lock) {
    std::map<std::string, std::string> had; // name:arch → "version checksum"
    for (const auto& line : installed) {
        auto words = split_words(line);
        if (words.size() >= 4) had[words[0] + ":" + words[2]] = words[1] + " " + words[3];
    }
    SetChanges changes;
    std::set<std::string> wanted;
    for (std::size_t i = 0; i < lock.packages.size(); ++i) {
        const auto& package = lock.packages[i];
        std::string key = package.name + ":" + package.arch;
        wanted.insert(key);
        auto it = had.find(key);
        if (it == had.end() || it->second != package.version + " " + package.checksum.str())
            changes.unpacked.push_back(i);
    }
    for (const auto& [key, version] : had)
        if (!wanted.contains(key)) changes.removed.push_back(key.substr(0, key.find(':')));
    return changes;
}

void upgrade_debs(const resolve::Lock& lock, const std::vector<fs::path>& fetched, const fs::path& root,
                  const InstallOptions& options) {
    std::vector<fs::path> files;
    if (!fetched.empty()) {
        fs::path cache =
            options.deb_cache.empty() ? fetched.front().parent_path().parent_path() / "debs" : options.deb_cache;
        files = uncompressed_debs(fetched, cache, options.parallel);
    }
    // A root shared with the tree cache: dpkg replaces the files it installs (it writes a new file and
    // renames it over), but a maintainer script may write into one; they all see a copy-on-write view.
    std::optional<CopyOnWriteView> view;
    if (options.shared_files) view.emplace(root, fs::path(root.string() + ".view"), "dpkg upgrading the root");
    {
        Dpkg dpkg(root, view ? view->path() : root, files.empty() ? root : files.front().parent_path(), options);
        if (!files.empty()) {
            dpkg.run({"--unpack"}, files, "unpacking the new and changed packages");
            dpkg.run({"--configure", "--pending"}, {}, "configuring them");
        }
        dpkg.finish();
    }
    check_database(lock, root);
    normalize_database(root);
}

} // namespace imgbuild::install
