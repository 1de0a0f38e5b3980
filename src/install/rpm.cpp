// rpm installs: one librpm transaction, ordered by rpm, run by `imgbuild __rpm-transaction` inside the
// sandbox's host-tools view (the host's /usr read-only as /, the root at /run/imgbuild/root). librpm
// chroots into the root for scriptlets, so they see the root as / and, even if one left the chroot,
// only the host's read-only /usr with no network. Package signatures are checked against an in-memory
// keyring of the recipe's keys, so no gpg-pubkey pseudo-package lands in the image's database. A lock
// whose rpm cannot read the database this librpm writes (EL7's, Berkeley DB only) is refused.

#include "rpm.hpp"

#include <rpm/header.h>
#include <rpm/rpmcallback.h>
#include <rpm/rpmdb.h>
#include <rpm/rpmio.h>
#include <rpm/rpmkeyring.h>
#include <rpm/rpmlib.h>
#include <rpm/rpmlog.h>
#include <rpm/rpmmacro.h>
#include <rpm/rpmpgp.h>
#include <rpm/rpmps.h>
#include <rpm/rpmtag.h>
#include <rpm/rpmte.h>
#include <rpm/rpmts.h>
#include <rpm/rpmver.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "differences.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/root_dir.hpp"
#include "imgbuild/install/sandbox.hpp"
#include "wrap/rpm.hpp"

namespace imgbuild::install {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view installed_marker = "IMGBUILD-INSTALLED\t";

using wrap::RpmDbIterator;
using wrap::RpmFd;
using wrap::RpmHeader;
using wrap::RpmKeyring;
using wrap::RpmPubkey;
using wrap::RpmString;
using wrap::RpmTs;

const fs::path helper_path = "/run/imgbuild/imgbuild";
const fs::path packages_mount = "/run/imgbuild/packages";

struct CallbackState {
    std::map<std::string, RpmFd> open; // the packages librpm reads now, by path
    std::vector<std::string> failures;
};

const char* script_name(rpm_loff_t tag) {
    switch (static_cast<rpmTag>(tag)) {
    case RPMTAG_PREIN: return "%pre";
    case RPMTAG_POSTIN: return "%post";
    case RPMTAG_PREUN: return "%preun";
    case RPMTAG_POSTUN: return "%postun";
    case RPMTAG_PRETRANS: return "%pretrans";
    case RPMTAG_POSTTRANS: return "%posttrans";
    case RPMTAG_TRIGGERIN: return "%triggerin";
    default: return "a scriptlet";
    }
}

void* notify(const void* header, const rpmCallbackType what, const rpm_loff_t amount, const rpm_loff_t total,
             fnpyKey key, rpmCallbackData data) {
    auto* state = static_cast<CallbackState*>(data);
    const char* path = static_cast<const char*>(key);
    switch (what) {
    case RPMCALLBACK_INST_OPEN_FILE: {
        RpmFd fd = wrap::open_rpm_fd(path);
        if (!fd) {
            state->failures.push_back(fmt::format("cannot open {}", path));
            return nullptr;
        }
        return (state->open[path] = std::move(fd)).get();
    }
    case RPMCALLBACK_INST_CLOSE_FILE: state->open.erase(path); return nullptr;
    case RPMCALLBACK_SCRIPT_ERROR: {
        const char* name =
            header ? headerGetString(const_cast<Header>(static_cast<const headerToken_s*>(header)), RPMTAG_NAME) : "?";
        // `total` is rpm's result code; rpm's own warning above it gives the script's exit status.
        (void)total;
        state->failures.push_back(fmt::format("{} of package {} failed", script_name(amount), name));
        return nullptr;
    }
    case RPMCALLBACK_UNPACK_ERROR:
    case RPMCALLBACK_CPIO_ERROR: {
        const char* name =
            header ? headerGetString(const_cast<Header>(static_cast<const headerToken_s*>(header)), RPMTAG_NAME) : "?";
        state->failures.push_back(fmt::format("the files of package {} could not be unpacked", name));
        return nullptr;
    }
    default: return nullptr;
    }
}

// Reads every armored public key block of `path` into the keyring.
bool add_keys(rpmKeyring keyring, const fs::path& path, std::string& error) {
    std::string reason;
    auto text = try_read_file(path, reason);
    if (!text) {
        error = fmt::format("cannot read the key '{}': {}", path.string(), reason);
        return false;
    }
    const std::string begin = "-----BEGIN PGP PUBLIC KEY BLOCK-----", end = "-----END PGP PUBLIC KEY BLOCK-----";
    int added = 0;
    for (std::size_t at = text->find(begin); at != std::string::npos; at = text->find(begin, at + 1)) {
        std::size_t stop = text->find(end, at);
        if (stop == std::string::npos) break;
        std::string block = text->substr(at, stop + end.size() - at);
        uint8_t* raw_packet = nullptr;
        size_t length = 0;
        bool parsed = pgpParsePkts(block.c_str(), &raw_packet, &length) == PGPARMOR_PUBKEY;
        CPtr<uint8_t, std::free> packet(raw_packet);
        if (!parsed) continue;
        RpmPubkey key(rpmPubkeyNew(packet.get(), length));
        if (key && rpmKeyringAddKey(keyring, key.get()) >= 0) ++added;
        // Subkeys sign too.
        int count = 0;
        CPtr<rpmPubkey, std::free> subkeys(key ? rpmGetSubkeys(key.get(), &count) : nullptr);
        for (int i = 0; i < count; ++i) {
            RpmPubkey subkey(subkeys.get()[i]);
            rpmKeyringAddKey(keyring, subkey.get());
        }
    }
    if (added == 0) error = fmt::format("'{}' holds no armored OpenPGP public key", path.string());
    return added > 0;
}

} // namespace

int rpm_transaction_main(const std::vector<std::string>& args) {
    std::string root, dbpath = "/var/lib/rpm";
    std::vector<std::string> keys, packages;
    bool nodocs = false, require_signatures = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--root" && i + 1 < args.size())
            root = args[++i];
        else if (args[i] == "--dbpath" && i + 1 < args.size())
            dbpath = args[++i];
        else if (args[i] == "--key" && i + 1 < args.size())
            keys.push_back(args[++i]);
        else if (args[i] == "--nodocs")
            nodocs = true;
        else if (args[i] == "--require-signatures")
            require_signatures = true;
        else
            packages.push_back(args[i]);
    }
    if (root.empty() || packages.empty()) {
        std::fprintf(stderr, "usage: __rpm-transaction --root DIR [--dbpath P] [--key K]... [--nodocs] PACKAGE...\n");
        return 2;
    }
    if (rpmReadConfigFiles(nullptr, nullptr) != 0) {
        std::fprintf(stderr, "error: cannot read rpm's configuration\n");
        return 1;
    }
    rpmPushMacro(nullptr, "_dbpath", nullptr, dbpath.c_str(), RMIL_CMDLINE);
    if (nodocs) rpmPushMacro(nullptr, "_excludedocs", nullptr, "1", RMIL_CMDLINE);

    RpmTs ts(rpmtsCreate());
    rpmtsSetRootDir(ts.get(), root.c_str());
    RpmKeyring keyring(rpmKeyringNew());
    for (const auto& key : keys) {
        std::string error;
        if (!add_keys(keyring.get(), key, error)) {
            std::fprintf(stderr, "error: %s\n", error.c_str());
            return 1;
        }
    }
    rpmtsSetKeyring(ts.get(), keyring.get());
    rpmtsSetVfyLevel(ts.get(), require_signatures ? RPMSIG_SIGNATURE_TYPE : RPMSIG_DIGEST_TYPE);

    std::vector<std::string> refused;
    for (const auto& path : packages) {
        RpmFd fd = wrap::open_rpm_fd(path.c_str());
        if (!fd) {
            std::fprintf(stderr, "error: cannot open %s\n", path.c_str());
            return 1;
        }
        Header raw_header = nullptr;
        rpmRC rc = rpmReadPackageFile(ts.get(), fd.get(), path.c_str(), &raw_header);
        RpmHeader header(raw_header);
        fd.reset();
        bool trusted = rc == RPMRC_OK || (!require_signatures && (rc == RPMRC_NOKEY || rc == RPMRC_NOTTRUSTED));
        if (!header || !trusted) {
            const char* name = header ? headerGetString(header.get(), RPMTAG_NAME) : fs::path(path).filename().c_str();
            refused.push_back(fmt::format("package {} {}", name,
                                          rc == RPMRC_NOKEY        ? "is not signed by a key of the recipe's repos"
                                          : rc == RPMRC_NOTTRUSTED ? "is signed by a key that is not trusted"
                                                                   : "has a bad signature or digest"));
            continue;
        }
        rpmtsAddInstallElement(ts.get(), header.get(), strdup(path.c_str()), 0, nullptr);
    }
    if (!refused.empty()) {
        std::fprintf(stderr, "error: %s\n", fmt::format("{}", fmt::join(refused, "\nerror: ")).c_str());
        return 1;
    }
    if (rpmtsCheck(ts.get()) != 0 || !wrap::problem_strings(ts.get()).empty()) {
        for (const auto& problem : wrap::problem_strings(ts.get()))
            std::fprintf(stderr, "error: %s\n", problem.c_str());
        return 1;
    }
    rpmtsOrder(ts.get());

    CallbackState state;
    rpmtsSetNotifyCallback(ts.get(), notify, &state);
    std::fflush(stdout);
    int result = rpmtsRun(ts.get(), nullptr, RPMPROB_FILTER_NONE);
    if (result != 0 || !state.failures.empty()) {
        for (const auto& problem : wrap::problem_strings(ts.get()))
            std::fprintf(stderr, "error: %s\n", problem.c_str());
        for (const auto& failure : state.failures) std::fprintf(stderr, "error: %s\n", failure.c_str());
        if (result < 0) std::fprintf(stderr, "error: the rpm transaction failed\n");
        return 1;
    }

    // What the database now lists, for the caller to compare with the lock.
    RpmDbIterator packages_in_db(rpmtsInitIterator(ts.get(), RPMDBI_PACKAGES, nullptr, 0));
    while (Header header = rpmdbNextIterator(packages_in_db.get())) { // borrowed: the iterator owns it
        RpmString evr(headerGetAsString(header, RPMTAG_EVR));
        std::printf("%.*s%s\t%s\t%s\n", static_cast<int>(installed_marker.size()), installed_marker.data(),
                    headerGetString(header, RPMTAG_NAME), evr.get(), headerGetString(header, RPMTAG_ARCH));
    }
    packages_in_db.reset();
    rpmtsCloseDB(ts.get());
    std::fflush(stdout);
    return 0;
}

void check_database_format(const resolve::Lock& lock) {
    // The rpm that reads the image's package database is the image's own. This librpm writes its
    // default backend, sqlite, and no librpm imgbuild builds with can write Berkeley DB (rpm 4.17
    // removed that backend). rpm reads sqlite from 4.16 on, and EL8's 4.14.3 was given read-only
    // sqlite support (Red Hat bug 1938928), which is all an ostree node's read-only database needs;
    // EL7's 4.11 reads only Berkeley DB (/var/lib/rpm/Packages). An image whose rpm cannot read its own
    // database would pass every build step and fail on the node (rpm -q, yum, inventory scans).
    const auto* rpm = lock.find("rpm");
    if (!rpm) return; // no rpm in the image: nothing in it reads the database
    std::string version = rpm->upstream_version.value_or(rpm->version);
    if (!rpm->upstream_version) {
        if (auto colon = version.find(':'); colon != std::string::npos) version = version.substr(colon + 1);
        if (auto dash = version.find('-'); dash != std::string::npos) version = version.substr(0, dash);
    }
    if (rpmvercmp(version.c_str(), "4.14.3") >= 0) return;
    throw InstallError(
        "Failed to install recipe '{}': its rpm {} reads only a Berkeley DB package database (EL7's generation), "
        "and this host's librpm {} cannot write one (rpm 4.17 removed that backend), so the image's rpm could not "
        "read its own database; build it with a librpm that writes Berkeley DB, or leave rpm out of the image "
        "(docs/seed-systems.md)",
        lock.recipe_name, rpm->version, RPMVERSION);
}

void install_rpms(const resolve::Lock& lock, const std::vector<fs::path>& files, const fs::path& root,
                  const InstallOptions& options) {
    check_database_format(lock);
    RootDir tree(root);
    for (const char* dir : {"dev", "proc", "tmp", "etc", "var/tmp", "run"}) tree.create_directories(dir);
    tree.chmod("tmp", 01777);

    Sandbox sandbox;
    sandbox.view = Sandbox::View::host_tools;
    sandbox.root = root;
    fs::path packages_dir = files.front().parent_path();
    sandbox.read_only.push_back({packages_dir, packages_mount});
    sandbox.read_only.push_back(
        {options.helper.empty() ? fs::read_symlink("/proc/self/exe") : options.helper, helper_path});
    sandbox.env = {"LC_ALL=C.UTF-8", "HOME=/root", fmt::format("SOURCE_DATE_EPOCH={}", options.source_date_epoch)};

    std::vector<std::string> argv{helper_path.string(),        "__rpm-transaction", "--root",
                                  sandbox_root_mount.string(), "--dbpath",          options.rpm_dbpath};
    for (std::size_t i = 0; i < options.rpm_keys.size(); ++i) {
        fs::path inside = fmt::format("/run/imgbuild/key{}.asc", i);
        sandbox.read_only.push_back({options.rpm_keys[i], inside});
        argv.insert(argv.end(), {"--key", inside.string()});
    }
    if (options.rpm_require_signatures) argv.push_back("--require-signatures");
    if (!options.docs) argv.push_back("--nodocs");
    for (const auto& file : files) argv.push_back((packages_mount / file.filename()).string());

    auto result = run_sandboxed(sandbox, argv, [&](std::string_view line) {
        if (!line.starts_with(installed_marker) && options.on_output) options.on_output(line);
    });
    std::string output;
    std::map<std::string, std::string> installed;
    std::istringstream lines(result.output);
    for (std::string line; std::getline(lines, line);) {
        if (!line.starts_with(installed_marker)) {
            output += line + "\n";
            continue;
        }
        std::istringstream fields(line.substr(installed_marker.size()));
        std::string name, evr, arch;
        std::getline(fields, name, '\t');
        std::getline(fields, evr, '\t');
        installed[name] = evr;
    }
    if (!result.ok()) {
        ProcessResult shown = result;
        shown.output = output;
        throw InstallError("Failed to install the rpm packages: the transaction {}:\n{}", result.status(),
                           shown.tail(30));
    }
    auto differences = lock_differences(lock, installed);
    if (!differences.empty())
        throw InstallError("Failed to install: the root's rpm database differs from the lock:\n  {}",
                           fmt::join(differences, "\n  "));
}

} // namespace imgbuild::install
