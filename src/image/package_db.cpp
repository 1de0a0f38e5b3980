// The package databases of an image tree, read for the SBOM: dpkg's status file and each package's
// copyright file, or the rpmdb through librpm (on a copy, so the tree never changes). Reading is best
// effort: what cannot be read is left out, with a warning when it is the whole database.

#include "package_db.hpp"

#include <rpm/header.h>
#include <rpm/rpmdb.h>
#include <rpm/rpmlib.h>
#include <rpm/rpmmacro.h>
#include <rpm/rpmtag.h>
#include <rpm/rpmts.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>

#include "imgbuild/core/deb822.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/strings.hpp"
#include "wrap/rpm.hpp"

namespace imgbuild::image {
namespace {

namespace fs = std::filesystem;

std::string header_string(Header header, rpmTagVal tag) {
    const char* value = headerGetString(header, tag);
    return value ? std::string(trim(value)) : std::string();
}

// A copy of an rpm database, removed afterwards. librpm never opens a database truly read-only: sqlite
// adds its -shm and -wal files, and where there is no database it makes one. The image's tree must not
// change (an ostree deployment's files are hardlinks into the repository), so librpm reads a copy. The
// database's regular files are copied (read inside the tree; a link among them is left out).
class DatabaseCopy {
public:
    DatabaseCopy(const RootDir& root, const std::string& source) {
        std::string path = (fs::temp_directory_path() / "imgbuild-rpmdb-XXXXXX").string();
        if (!mkdtemp(path.data())) throw SysError<Error>(errno, "create a directory");
        m_path = path;
        for (const auto& name : root.list(source)) {
            auto info = root.lstat(source + "/" + name);
            if (info && S_ISREG(info->st_mode)) write_file_atomic(m_path / name, root.read(source + "/" + name), 0600);
        }
    }
    ~DatabaseCopy() {
        std::error_code error;
        fs::remove_all(m_path, error);
    }
    DatabaseCopy(const DatabaseCopy&) = delete;
    DatabaseCopy& operator=(const DatabaseCopy&) = delete;

    const fs::path& path() const { return m_path; }

private:
    fs::path m_path;
};

// The directory of the tree's rpm database (sqlite, Berkeley DB or ndb) as a path in the image (its
// links resolved there), if it has one.
std::optional<std::string> rpmdb_directory(const RootDir& root) {
    for (const char* candidate : {"usr/lib/sysimage/rpm", "var/lib/rpm"}) {
        try {
            if (!root.is_directory(candidate)) continue;
            std::string path = root.resolve(candidate);
            for (const char* file : {"rpmdb.sqlite", "Packages", "Packages.db"})
                if (root.is_regular_file(path + "/" + file)) return path;
        } catch (const Error& e) {
            log::debug("SBOM: {}", e.what());
        }
    }
    return std::nullopt;
}

} // namespace

std::optional<std::string> read_in_root(const RootDir& root, const fs::path& relative) {
    try {
        return root.try_read(relative);
    } catch (const Error& e) {
        log::debug("SBOM: {}", e.what());
        return std::nullopt;
    }
}

const InstalledPackage* lookup(const PackageDatabase& database, const resolve::LockedPackage& package) {
    if (auto it = database.find({package.name, package.arch}); it != database.end()) return &it->second;
    // An arch the database spells differently: the name alone, when it is unique.
    auto it = database.lower_bound({package.name, ""});
    if (it == database.end() || it->first.first != package.name) return nullptr;
    auto next = std::next(it);
    if (next != database.end() && next->first.first == package.name) return nullptr;
    return &it->second;
}

PackageDatabase read_dpkg(const RootDir& root) {
    PackageDatabase database;
    std::optional<std::string> status;
    for (const char* candidate : {"usr/lib/sysimage/dpkg/status", "var/lib/dpkg/status"})
        if ((status = read_in_root(root, candidate))) break;
    if (!status) {
        log::warn("The SBOM names no suppliers or licenses: '{}' has no readable dpkg status file",
                  readable_path(root.path()));
        return database;
    }
    deb822::for_each_paragraph(*status, [&](const deb822::Paragraph& paragraph) {
        std::string_view name = deb822::field(paragraph, "Package");
        if (name.empty()) return;
        // Removed packages whose conffiles remain are listed too, as "deinstall ok config-files".
        auto status_words = deb822::words(deb822::field(paragraph, "Status"));
        if (!status_words.empty() && status_words.back() != "installed") return;
        std::string_view arch = deb822::field(paragraph, "Architecture");
        if (auto colon = name.find(':'); colon != std::string_view::npos) {
            if (arch.empty()) arch = name.substr(colon + 1);
            name = name.substr(0, colon);
        }
        InstalledPackage installed;
        installed.maintainer = deb822::field(paragraph, "Maintainer");
        try {
            installed.copyright = read_in_root(root, fs::path("usr/share/doc") / name / "copyright");
        } catch (const std::exception& e) {
            log::debug("SBOM: the copyright file of {} cannot be read: {}", name, e.what());
        }
        database.insert_or_assign({std::string(name), std::string(arch)}, std::move(installed));
    });
    return database;
}

PackageDatabase read_rpmdb(const RootDir& root) {
    PackageDatabase database;
    auto directory = rpmdb_directory(root);
    if (!directory) {
        log::warn("The SBOM names no suppliers or licenses: '{}' has no rpm database", readable_path(root.path()));
        return database;
    }
    std::optional<DatabaseCopy> copy;
    try {
        copy.emplace(root, *directory);
    } catch (const std::exception& e) {
        log::warn("The SBOM names no suppliers or licenses: the rpm database '{}' cannot be copied: {}", *directory,
                  e.what());
        return database;
    }
    static std::once_flag configured;
    static int config_result = 0;
    std::call_once(configured, [] { config_result = rpmReadConfigFiles(nullptr, nullptr); });
    if (config_result != 0) {
        log::warn("The SBOM names no suppliers or licenses: rpm's configuration cannot be read");
        return database;
    }
    rpmPushMacro(nullptr, "_dbpath", nullptr, copy->path().c_str(), RMIL_CMDLINE);
    struct PopMacro {
        ~PopMacro() { rpmPopMacro(nullptr, "_dbpath"); }
    } pop_macro;

    wrap::RpmTs ts(rpmtsCreate());
    rpmtsSetRootDir(ts.get(), "/");
    wrap::RpmDbIterator iterator(rpmtsInitIterator(ts.get(), RPMDBI_PACKAGES, nullptr, 0));
    if (!iterator) {
        log::warn("The SBOM names no suppliers or licenses: the rpm database '{}' cannot be read", *directory);
        return database;
    }
    while (Header header = rpmdbNextIterator(iterator.get())) {
        std::string name = header_string(header, RPMTAG_NAME), arch = header_string(header, RPMTAG_ARCH);
        if (name.empty() || arch.empty()) continue; // gpg-pubkey pseudo-packages have no arch
        InstalledPackage installed;
        installed.vendor = header_string(header, RPMTAG_VENDOR);
        installed.packager = header_string(header, RPMTAG_PACKAGER);
        installed.license = header_string(header, RPMTAG_LICENSE);
        database.insert_or_assign({std::move(name), std::move(arch)}, std::move(installed));
    }
    return database;
}

} // namespace imgbuild::image
