#pragma once
// License expressions as SPDX writes them, from what Debian's copyright files and rpm's License tags
// say: private to the image stage (sbom.cpp), declared here for it and for the unit tests.

#include <map>
#include <string>
#include <string_view>

namespace imgbuild::image::spdx {

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

} // namespace imgbuild::image::spdx
