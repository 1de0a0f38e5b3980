#pragma once
// The image's software bill of materials: an SPDX 2.3 JSON document listing every locked package with
// its version, checksum, purl, supplier and declared license (docs/sbom.md). Made from the lock and the
// package database inside the image tree, and byte-for-byte reproducible from the same inputs.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::image {

struct SbomInput {
    resolve::Lock lock;            // the exact package set (name, version, arch, repo, url, checksum, size...)
    std::filesystem::path root;    // an image tree (an ostree deployment or a rootfs) holding the package database
    std::string name;              // image name, e.g. debian11-node
    std::string version;           // image version, e.g. 11.20260912.0
    std::string commit;            // ostree commit checksum (64 hex)
    std::int64_t created = 0;      // SOURCE_DATE_EPOCH: the document's creation time, so the SBOM is reproducible
    std::string tool = "imgbuild"; // creator tool string, e.g. "imgbuild-0.1.0"
};

// The SPDX 2.3 document (JSON) of every package in the lock. Deterministic: the same input gives
// byte-identical dump(). A package the tree's database lacks, or whose metadata cannot be read, is
// still listed, with NOASSERTION for what is unknown; only a lock that cannot be described throws.
nlohmann::json sbom(const SbomInput& input);

// The pieces sbom() is made of, public so they can be tested one by one.
namespace spdx {

// "SPDXRef-Package-<name>-<arch>", every character SPDX IDs do not allow (they allow letters, digits,
// '.' and '-') replaced by '-'.
std::string package_id(std::string_view name, std::string_view arch);

// A LicenseRef-<id> of an expression and what it stands for: the name as the package wrote it, and the
// license's text when the package's copyright file gives it (else empty).
struct ExtractedLicense {
    std::string name;
    std::string text;
    bool operator==(const ExtractedLicense&) const = default;
};

struct License {
    std::string expression = "NOASSERTION";             // an SPDX license expression
    std::map<std::string, ExtractedLicense> references; // every LicenseRef-… of `expression`
};

// A DEP-5 `License:` line or an rpm License tag as an SPDX expression: known short names mapped to SPDX
// identifiers (GPL-2+ and GPLv2+ → GPL-2.0-or-later, Expat → MIT, ASL 2.0 → Apache-2.0, "GPL-2+ with
// Autoconf exception" → GPL-2.0-or-later WITH Autoconf-exception-2.0, …), "and"/"or" (either case,
// DEP-5's ", and"/", or" included) to AND/OR, anything else to LicenseRef-<name>. NOASSERTION when empty.
License license(std::string_view expression);

// The declared license of a Debian package from its /usr/share/doc/<package>/copyright: the licenses
// of every Files paragraph of a machine-readable (DEP-5) file, deduplicated, sorted, joined with AND.
// NOASSERTION for a file in free form.
License dep5_license(std::string_view copyright);

// A maintainer ("Name <address>") as an SPDX supplier: "Person: Name (address)", or "Organization: …"
// for a team (a name with Team, Maintainers, Developers, Packagers, Group or Project; or a mailing-list
// address). NOASSERTION when empty.
std::string supplier(std::string_view maintainer);

// The package URL (purl) of a locked package: pkg:deb/<namespace>/<name>@<version>?arch=<arch> for
// format "deb", pkg:rpm/<namespace>/<name>@<version>-<release>?arch=<arch>&epoch=<epoch> for "rpm";
// components percent-encoded per the purl specification.
std::string purl(std::string_view format, std::string_view namespace_name, const resolve::LockedPackage& package);

} // namespace spdx
} // namespace imgbuild::image
