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

// The identifiers sbom() is made of, public so they can be tested one by one (the license
// expressions are src/image/spdx_license.hpp's).
namespace spdx {

// "SPDXRef-Package-<name>-<arch>", every character SPDX IDs do not allow (they allow letters, digits,
// '.' and '-') replaced by '-'.
std::string package_id(std::string_view name, std::string_view arch);

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
