// The SPDX 2.3 SBOM of an image: the lock gives each package's identity and checksum, the package
// database inside the tree (package_db.hpp) its supplier and declared license (spdx_license.hpp), and
// this file the identifiers (SPDX IDs, purls, suppliers) and the document.
// Reading is best effort per package: one unreadable file costs a field.

#include "imgbuild/image/sbom.hpp"

#include <algorithm>
#include <ctime>
#include <optional>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/root_dir.hpp"
#include "imgbuild/core/strings.hpp"
#include "package_db.hpp"
#include "spdx_license.hpp"

namespace imgbuild::image {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using spdx::ExtractedLicense;
using spdx::License;

constexpr const char* noassertion = "NOASSERTION";

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// The purl specification's percent-encoding: everything but letters, digits and ".-_~".
std::string percent_encode(std::string_view text) {
    std::string result;
    for (char c : text) {
        if (is_alnum(c) || c == '.' || c == '-' || c == '_' || c == '~')
            result += c;
        else
            result += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
    return result;
}

std::string iso_time(std::int64_t seconds) {
    auto time = static_cast<std::time_t>(seconds);
    std::tm utc{};
    if (!gmtime_r(&time, &utc)) throw Error("Failed to make the SBOM: {} is not a valid creation time", seconds);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                       utc.tm_hour, utc.tm_min, utc.tm_sec);
}

// What the SBOM says of an installed package: its supplier and declared license, interpreted from
// what its database records (Debian: the Maintainer and the DEP-5 copyright file; rpm: the Vendor,
// else the Packager, and the License tag).
struct Installed {
    std::string supplier{noassertion};
    License license;
    std::string vendor; // rpm's Vendor tag, for the purl's namespace
};

Installed interpret(const InstalledPackage& facts, std::string_view format, std::string_view name) {
    Installed installed;
    installed.vendor = facts.vendor;
    try {
        if (format == "deb") {
            installed.supplier = spdx::supplier(facts.maintainer);
            if (facts.copyright) installed.license = spdx::dep5_license(*facts.copyright);
        } else {
            installed.supplier =
                facts.vendor.empty() ? spdx::supplier(facts.packager) : "Organization: " + facts.vendor;
            installed.license = spdx::license(facts.license);
        }
    } catch (const std::exception& e) {
        log::debug("SBOM: the license of {} is unknown: {}", name, e.what());
    }
    return installed;
}

// The image's os-release ID (debian, ubuntu, fedora, …): the purl namespace of its packages.
std::string os_release_id(const RootDir& root) {
    for (const char* candidate : {"usr/lib/os-release", "etc/os-release", "usr/etc/os-release"}) {
        auto text = read_in_root(root, candidate);
        if (!text) continue;
        for (std::string_view rest = *text; !rest.empty();) {
            auto end = rest.find('\n');
            std::string_view line = trim(rest.substr(0, end));
            rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
            if (!line.starts_with("ID=")) continue;
            std::string_view value = line.substr(3);
            if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
                value = value.substr(1, value.size() - 2);
            return lower(value);
        }
    }
    return {};
}

// rpm's purl namespace without an os-release: the vendor's first word ("Fedora Project" → fedora).
std::string vendor_namespace(std::string_view vendor) {
    std::string result;
    for (char c : trim(vendor)) {
        if (!is_alnum(c)) break;
        result += c;
    }
    return lower(result);
}

std::string_view checksum_algorithm(DigestType type) {
    switch (type) {
    case DigestType::md5: return "MD5";
    case DigestType::sha1: return "SHA1";
    case DigestType::sha256: return "SHA256";
    case DigestType::sha512: return "SHA512";
    }
    return "SHA256";
}

// Where a consumer can fetch the package: the lock's URL when it is one anyone can reach (the file:
// URLs of local repositories are not, and SPDX validators refuse them).
std::string download_location(const std::string& url) {
    for (std::string_view scheme : {"http://", "https://", "ftp://"})
        if (url.starts_with(scheme)) return url;
    return std::string(noassertion);
}

} // namespace

namespace spdx {

std::string package_id(std::string_view name, std::string_view arch) {
    std::string id = "SPDXRef-Package-";
    for (char c : name) id += is_alnum(c) || c == '.' || c == '-' ? c : '-';
    id += '-';
    for (char c : arch) id += is_alnum(c) || c == '.' || c == '-' ? c : '-';
    return id;
}

std::string supplier(std::string_view maintainer) {
    maintainer = trim(maintainer);
    std::string_view name = maintainer, address;
    if (auto open = maintainer.rfind('<'); open != std::string_view::npos) {
        if (auto close = maintainer.find('>', open); close != std::string_view::npos) {
            address = trim(maintainer.substr(open + 1, close - open - 1));
            name = trim(maintainer.substr(0, open));
        }
    }
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = trim(name.substr(1, name.size() - 2));
    if (name.empty()) name = address;
    if (name.empty()) return std::string(noassertion);

    // A team: its name says so, or it is reached through a mailing list (lists.debian.org,
    // alioth-lists.debian.net, lists.ubuntu.com, …).
    bool team = false;
    std::string word;
    for (std::size_t i = 0; i <= name.size() && !team; ++i) {
        if (i < name.size() && is_alnum(name[i])) {
            word += name[i];
            continue;
        }
        for (std::string_view keyword : {"team", "maintainers", "developers", "packagers", "group", "project"})
            team = team || lower(word) == keyword;
        word.clear();
    }
    if (auto at = address.find('@');
        at != std::string_view::npos && lower(address.substr(at)).find("lists") != std::string::npos)
        team = true;

    std::string result = fmt::format("{}: {}", team ? "Organization" : "Person", name);
    if (!address.empty() && address != name) result += fmt::format(" ({})", address);
    return result;
}

std::string purl(std::string_view format, std::string_view namespace_name, const resolve::LockedPackage& package) {
    std::string version = package.version;
    std::vector<std::pair<std::string, std::string>> qualifiers{{"arch", package.arch}};
    if (format == "rpm") {
        // rpm's purl puts the epoch in a qualifier; the version is version-release.
        std::optional<std::int64_t> epoch = package.epoch;
        if (package.upstream_version && package.release) {
            version = *package.upstream_version + "-" + *package.release;
        } else if (auto colon = version.find(':'); colon != std::string::npos) {
            try {
                epoch = std::stoll(version.substr(0, colon));
            } catch (const std::exception&) {
                // not an epoch: keep the version as it is
            }
            if (epoch) version = version.substr(colon + 1);
        }
        if (epoch && *epoch != 0) qualifiers.emplace_back("epoch", std::to_string(*epoch));
    }
    std::string result = fmt::format("pkg:{}/", lower(format));
    if (!namespace_name.empty()) result += percent_encode(lower(namespace_name)) + "/";
    result += percent_encode(format == "deb" ? lower(package.name) : package.name);
    if (!version.empty()) result += "@" + percent_encode(version);
    std::sort(qualifiers.begin(), qualifiers.end());
    char separator = '?';
    for (const auto& [key, value] : qualifiers) {
        if (value.empty()) continue;
        result += fmt::format("{}{}={}", separator, key, percent_encode(value));
        separator = '&';
    }
    return result;
}

} // namespace spdx

namespace {

// The image itself: the package the document describes, which contains the others.
json image_package(const SbomInput& input, const std::string& created) {
    json image_package = {
        {"SPDXID", "SPDXRef-Image"},
        {"name", input.name},
        {"downloadLocation", noassertion},
        {"filesAnalyzed", false},
        {"builtDate", created},
        // The JSON schema of SPDX 2.3 spells the spec's OPERATING-SYSTEM with an underscore.
        {"primaryPackagePurpose", "OPERATING_SYSTEM"},
        {"licenseConcluded", noassertion},
        {"licenseDeclared", noassertion},
        {"copyrightText", noassertion},
    };
    if (!input.version.empty()) image_package["versionInfo"] = input.version;
    if (!input.commit.empty()) {
        // The commit is a checksum of ostree's commit object, not of a file one downloads, so it is a
        // reference rather than a package checksum.
        image_package["comment"] = fmt::format("ostree commit {}", input.commit);
        image_package["externalRefs"] = json::array(
            {{{"referenceCategory", "OTHER"}, {"referenceType", "ostree-commit"}, {"referenceLocator", input.commit}}});
    }
    return image_package;
}

// One locked package: its identity from the lock, its supplier and license from the database.
json package_entry(const resolve::LockedPackage& package, const std::string& id, std::string_view format,
                   const std::string& os_id, const Installed* installed) {
    std::string namespace_name = os_id;
    if (namespace_name.empty())
        namespace_name = format == "deb" ? "debian" : installed ? vendor_namespace(installed->vendor) : "";
    if (namespace_name.empty()) namespace_name = "rpm";
    json entry = {
        {"SPDXID", id},
        {"name", package.name},
        {"supplier", installed ? installed->supplier : std::string(noassertion)},
        {"downloadLocation", download_location(package.url)},
        {"filesAnalyzed", false},
        {"licenseConcluded", noassertion},
        {"licenseDeclared", installed ? installed->license.expression : std::string(noassertion)},
        {"copyrightText", noassertion},
        {"externalRefs", json::array({{{"referenceCategory", "PACKAGE-MANAGER"},
                                       {"referenceType", "purl"},
                                       {"referenceLocator", spdx::purl(format, namespace_name, package)}}})},
    };
    if (!package.version.empty()) entry["versionInfo"] = package.version;
    if (!package.checksum.hex.empty())
        entry["checksums"] = json::array({{{"algorithm", std::string(checksum_algorithm(package.checksum.type))},
                                           {"checksumValue", package.checksum.hex}}});
    return entry;
}

// The texts of the LicenseRef-s the packages' expressions use.
json extracted_infos(const std::map<std::string, ExtractedLicense>& extracted) {
    json infos = json::array();
    for (const auto& [ref, license] : extracted)
        infos.push_back(
            {{"licenseId", ref},
             {"name", license.name},
             {"extractedText", license.text.empty() ? fmt::format("The license named '{}' by the package; its text "
                                                                  "was not found in the image.",
                                                                  license.name)
                                                    : license.text}});
    return infos;
}

} // namespace

json sbom(const SbomInput& input) {
    const auto& lock = input.lock;
    if (lock.format != "deb" && lock.format != "rpm")
        throw Error("Failed to make the SBOM of '{}': the lock's package format '{}' is neither deb nor rpm",
                    input.name, lock.format);
    const std::string created = iso_time(input.created);
    const RootDir root(input.root);
    const PackageDatabase database = lock.format == "deb" ? read_dpkg(root) : read_rpmdb(root);
    const std::string os_id = os_release_id(root);

    json packages = json::array({image_package(input, created)});
    std::set<std::string> ids;
    std::map<std::string, ExtractedLicense> extracted;
    std::vector<std::tuple<std::string, std::string, std::string>> relationships{
        {"SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"}};
    for (const auto& package : lock.packages) {
        // Two names that differ only in characters SPDX IDs lack (a+b, a-b) still get their own IDs.
        std::string id = spdx::package_id(package.name, package.arch);
        for (int n = 2; !ids.insert(id).second; ++n)
            id = fmt::format("{}-{}", spdx::package_id(package.name, package.arch), n);

        const InstalledPackage* facts = lookup(database, package);
        std::optional<Installed> installed;
        if (facts) installed = interpret(*facts, lock.format, package.name);
        if (!installed) log::debug("SBOM: {} {} is not in the image's package database", package.name, package.arch);
        packages.push_back(package_entry(package, id, lock.format, os_id, installed ? &*installed : nullptr));
        if (installed)
            for (const auto& [ref, license] : installed->license.references) extracted.emplace(ref, license);
        relationships.emplace_back("SPDXRef-Image", "CONTAINS", id);
    }
    std::sort(packages.begin(), packages.end(), [](const json& a, const json& b) {
        return a.at("SPDXID").get_ref<const std::string&>() < b.at("SPDXID").get_ref<const std::string&>();
    });
    std::sort(relationships.begin(), relationships.end());

    json document = {
        {"spdxVersion", "SPDX-2.3"},
        {"dataLicense", "CC0-1.0"},
        {"SPDXID", "SPDXRef-DOCUMENT"},
        {"name", input.version.empty() ? input.name : fmt::format("{}-{}", input.name, input.version)},
        {"documentNamespace", fmt::format("https://imgbuild.invalid/spdx/{}-{}-{}", percent_encode(input.name),
                                          percent_encode(input.version), percent_encode(input.commit))},
        {"creationInfo", {{"created", created}, {"creators", json::array({"Tool: " + input.tool})}}},
        {"packages", std::move(packages)},
        {"relationships", json::array()},
    };
    for (const auto& [element, type, related] : relationships)
        document["relationships"].push_back(
            {{"spdxElementId", element}, {"relationshipType", type}, {"relatedSpdxElement", related}});
    if (!extracted.empty()) document["hasExtractedLicensingInfos"] = extracted_infos(extracted);
    return document;
}

} // namespace imgbuild::image
