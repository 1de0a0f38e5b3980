// The SPDX SBOM: a Debian tree written by hand (dpkg status, DEP-5 and free-form copyright files, a doc
// directory linked to another package's) checked field by field; the helpers it is made of one by one;
// and, where rpmbuild and root are available, an rpm database made by the real rpm.

#include "image/spdx_license.hpp"
#include "imgbuild/image/sbom.hpp"

#include <unistd.h>

#include <map>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "support/command.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::image {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using resolve::LockedPackage;
using test::run_command;

const std::string commit = "3f2a9c1d5e7b8a0f4c6d2e1b9a8f7c6d5e4b3a2f1c0d9e8b7a6f5c4d3e2b1a0f";
constexpr std::int64_t sep_12_2026 = 1789171200;

LockedPackage locked(std::string name, std::string version, std::string arch, std::string url,
                     Checksum checksum = {DigestType::sha256, std::string(64, 'a')}) {
    LockedPackage package;
    package.name = std::move(name);
    package.version = std::move(version);
    package.arch = std::move(arch);
    package.repo = "bullseye";
    package.url = std::move(url);
    package.checksum = std::move(checksum);
    return package;
}

const json& package_with_id(const json& document, const std::string& id) {
    for (const auto& package : document.at("packages"))
        if (package.at("SPDXID") == id) return package;
    throw std::runtime_error("no package " + id);
}

class SbomTest : public test::TempDirTest {
protected:
    // A Debian tree as the image keeps it: the dpkg database under /usr/lib/sysimage.
    void SetUp() override {
        write_status("usr/lib/sysimage/dpkg/status");
        dir.write("usr/share/doc/bash/copyright",
                  R"(Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: bash
Source: https://ftp.gnu.org/gnu/bash/

Files: *
Copyright: 1987-2020 Free Software Foundation, Inc.
License: GPL-3+

Files: examples/loadables/*
Copyright: 1996-2020 Free Software Foundation, Inc.
License: GPL-2+ or Artistic

Files: lib/sh/strtoimax.c
Copyright: none
License: public-domain

Files: support/frob.c
Copyright: 2001 A. Hacker
License: Frob
 You may frob this file.
 .
 Nothing else.

License: GPL-3+
 On Debian systems, the complete text of the GNU General Public License
 version 3 can be found in /usr/share/common-licenses/GPL-3.
)");
        // libfoo1's documentation is foo-common's, through an absolute link: it must resolve inside the tree.
        dir.write("usr/share/doc/foo-common/copyright", "Format: http://www.debian.org/doc/packaging-manuals/"
                                                        "copyright-format/1.0/\n\nFiles: *\nCopyright: 2020 Foo\n"
                                                        "License: Expat\n");
        fs::create_symlink("/usr/share/doc/foo-common", dir.path() / "usr/share/doc/libfoo1");
        dir.write("usr/share/doc/zlib1g/copyright", "Copyright notice from the zlib 1.2.11 distribution:\n\n"
                                                    "  (C) 1995-2017 Jean-loup Gailly and Mark Adler\n");

        input.lock.format = "deb";
        input.lock.arch = "x86_64";
        input.lock.packages = {
            locked("bash", "5.1-2+deb11u1", "amd64",
                   "http://mirror.example/debian/pool/main/b/bash/bash_5.1-2+deb11u1_amd64.deb"),
            locked("ghost", "1:2.0-1", "all", "file:///srv/repo/pool/ghost_2.0-1_all.deb",
                   {DigestType::sha512, std::string(128, 'b')}),
            locked("libfoo1", "1.0-1", "amd64", "http://mirror.example/debian/pool/main/f/foo/libfoo1_1.0-1_amd64.deb",
                   {DigestType::sha1, std::string(40, 'c')}),
            locked("zlib1g", "1:1.2.11.dfsg-2+deb11u2", "amd64",
                   "http://mirror.example/debian/pool/main/z/zlib/zlib1g_1.2.11.dfsg-2+deb11u2_amd64.deb"),
        };
        input.root = dir.path();
        input.name = "debian11-node";
        input.version = "11.20260912.0";
        input.commit = commit;
        input.created = sep_12_2026;
        input.tool = "imgbuild-0.1.0";
    }

    void write_status(const fs::path& relative) const {
        dir.write(relative, R"(Package: bash
Essential: yes
Status: install ok installed
Priority: required
Architecture: amd64
Maintainer: Matthias Klose <doko@debian.org>
Version: 5.1-2+deb11u1
Description: GNU Bourne Again SHell

Package: libfoo1:amd64
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Maintainer: Debian Foo Team <pkg-foo@lists.alioth.debian.org>
Version: 1.0-1

Package: oldpkg
Status: deinstall ok config-files
Architecture: amd64
Maintainer: Someone <someone@example.org>
Version: 0.9-1

Package: zlib1g
Status: install ok installed
Architecture: amd64
Maintainer: Mark Brown <broonie@debian.org>
Version: 1:1.2.11.dfsg-2+deb11u2
)");
    }

    SbomInput input;
};

TEST_F(SbomTest, DescribesTheDocumentAndTheImage) {
    auto document = sbom(input);
    EXPECT_EQ(document.at("spdxVersion"), "SPDX-2.3");
    EXPECT_EQ(document.at("dataLicense"), "CC0-1.0");
    EXPECT_EQ(document.at("SPDXID"), "SPDXRef-DOCUMENT");
    EXPECT_EQ(document.at("name"), "debian11-node-11.20260912.0");
    EXPECT_EQ(document.at("documentNamespace"), "https://imgbuild.invalid/spdx/debian11-node-11.20260912.0-" + commit);
    EXPECT_EQ(document.at("creationInfo"),
              json::parse(R"({"created": "2026-09-12T00:00:00Z", "creators": ["Tool: imgbuild-0.1.0"]})"));

    const auto& image = package_with_id(document, "SPDXRef-Image");
    EXPECT_EQ(image.at("name"), "debian11-node");
    EXPECT_EQ(image.at("versionInfo"), "11.20260912.0");
    EXPECT_EQ(image.at("downloadLocation"), "NOASSERTION");
    EXPECT_EQ(image.at("filesAnalyzed"), false);
    EXPECT_EQ(image.at("builtDate"), "2026-09-12T00:00:00Z");
    EXPECT_EQ(image.at("externalRefs"), json::parse(fmt::format(R"([{{"referenceCategory": "OTHER",
        "referenceType": "ostree-commit", "referenceLocator": "{}"}}])",
                                                                commit)));
    EXPECT_FALSE(image.contains("checksums")); // a commit checksum is not a file's checksum
}

TEST_F(SbomTest, ListsEveryLockedPackageSortedById) {
    auto document = sbom(input);
    std::vector<std::string> ids;
    for (const auto& package : document.at("packages")) ids.push_back(package.at("SPDXID"));
    EXPECT_EQ(ids, (std::vector<std::string>{"SPDXRef-Image", "SPDXRef-Package-bash-amd64", "SPDXRef-Package-ghost-all",
                                             "SPDXRef-Package-libfoo1-amd64", "SPDXRef-Package-zlib1g-amd64"}));

    EXPECT_EQ(document.at("relationships"), json::parse(R"([
        {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Image"},
        {"spdxElementId": "SPDXRef-Image", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-Package-bash-amd64"},
        {"spdxElementId": "SPDXRef-Image", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-Package-ghost-all"},
        {"spdxElementId": "SPDXRef-Image", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-Package-libfoo1-amd64"},
        {"spdxElementId": "SPDXRef-Image", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-Package-zlib1g-amd64"}
    ])"));
}

TEST_F(SbomTest, DebianPackagesFromStatusAndCopyright) {
    auto document = sbom(input);

    // A DEP-5 file: the Files paragraphs' licenses, sorted, "or" in parentheses, public-domain left out.
    EXPECT_EQ(package_with_id(document, "SPDXRef-Package-bash-amd64"), json::parse(R"json({
        "SPDXID": "SPDXRef-Package-bash-amd64",
        "name": "bash",
        "versionInfo": "5.1-2+deb11u1",
        "supplier": "Person: Matthias Klose (doko@debian.org)",
        "downloadLocation": "http://mirror.example/debian/pool/main/b/bash/bash_5.1-2+deb11u1_amd64.deb",
        "filesAnalyzed": false,
        "checksums": [{"algorithm": "SHA256", "checksumValue": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}],
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "(GPL-2.0-or-later OR Artistic-1.0-Perl) AND GPL-3.0-or-later AND LicenseRef-Frob",
        "copyrightText": "NOASSERTION",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": "pkg:deb/debian/bash@5.1-2%2Bdeb11u1?arch=amd64"}]
    })json"));
    EXPECT_EQ(document.at("hasExtractedLicensingInfos"), json::parse(R"([
        {"licenseId": "LicenseRef-Frob", "name": "Frob", "extractedText": "You may frob this file.\n\nNothing else."}
    ])"));

    // "libfoo1:amd64" in the status; its doc directory an absolute link to foo-common's; a team.
    const auto& libfoo = package_with_id(document, "SPDXRef-Package-libfoo1-amd64");
    EXPECT_EQ(libfoo.at("supplier"), "Organization: Debian Foo Team (pkg-foo@lists.alioth.debian.org)");
    EXPECT_EQ(libfoo.at("licenseDeclared"), "MIT");
    EXPECT_EQ(libfoo.at("checksums"),
              json::parse(R"([{"algorithm": "SHA1", "checksumValue": ")" + std::string(40, 'c') + R"("}])"));

    // A copyright file in free form: no declared license.
    const auto& zlib = package_with_id(document, "SPDXRef-Package-zlib1g-amd64");
    EXPECT_EQ(zlib.at("supplier"), "Person: Mark Brown (broonie@debian.org)");
    EXPECT_EQ(zlib.at("licenseDeclared"), "NOASSERTION");
    EXPECT_EQ(zlib.at("externalRefs")[0].at("referenceLocator"),
              "pkg:deb/debian/zlib1g@1%3A1.2.11.dfsg-2%2Bdeb11u2?arch=amd64");

    // In the lock, not in the database: listed, with nothing asserted; a file: URL is no download location.
    const auto& ghost = package_with_id(document, "SPDXRef-Package-ghost-all");
    EXPECT_EQ(ghost.at("supplier"), "NOASSERTION");
    EXPECT_EQ(ghost.at("licenseDeclared"), "NOASSERTION");
    EXPECT_EQ(ghost.at("downloadLocation"), "NOASSERTION");
    EXPECT_EQ(ghost.at("versionInfo"), "1:2.0-1");
    EXPECT_EQ(ghost.at("checksums")[0].at("algorithm"), "SHA512");
}

TEST_F(SbomTest, IsDeterministic) {
    auto first = sbom(input).dump(2);
    EXPECT_EQ(first, sbom(input).dump(2));
    EXPECT_EQ(sbom(input).dump(), sbom(input).dump());

    // The namespace is made from name, version and commit only: another commit, another document.
    SbomInput other = input;
    other.commit = std::string(64, 'e');
    EXPECT_NE(sbom(other).at("documentNamespace"), sbom(input).at("documentNamespace"));
    other = input;
    other.created = sep_12_2026 + 86400 + 3661;
    EXPECT_EQ(sbom(other).at("creationInfo").at("created"), "2026-09-13T01:01:01Z");
    EXPECT_EQ(sbom(other).at("documentNamespace"), sbom(input).at("documentNamespace"));
}

TEST_F(SbomTest, ReadsAPlainRootfsAndItsOsRelease) {
    fs::remove_all(dir.path() / "usr/lib/sysimage");
    write_status("var/lib/dpkg/status");
    dir.write("usr/lib/os-release", "NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\n");
    auto document = sbom(input);
    const auto& bash = package_with_id(document, "SPDXRef-Package-bash-amd64");
    EXPECT_EQ(bash.at("supplier"), "Person: Matthias Klose (doko@debian.org)");
    EXPECT_EQ(bash.at("externalRefs")[0].at("referenceLocator"), "pkg:deb/ubuntu/bash@5.1-2%2Bdeb11u1?arch=amd64");
}

// Links in the tree to the host's files (the build host's own copyright file, status file and
// os-release) are read as the tree's paths: what they name is not in the tree, so nothing of the host
// reaches the SBOM.
TEST_F(SbomTest, LinksToTheHostAreResolvedInsideTheTree) {
    test::TempDir host;
    auto copyright = host.write("copyright", "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/"
                                             "1.0/\n\nFiles: *\nCopyright: the host\nLicense: Host-Only\n");
    auto status = host.write("status", "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\n"
                                       "Maintainer: The Host <host@example.org>\nVersion: 9\n");
    auto os_release = host.write("os-release", "ID=hostos\n");
    fs::remove_all(dir.path() / "usr/share/doc/zlib1g");
    fs::create_symlink(copyright, dir.path() / "usr/share/doc/zlib1g");
    fs::remove(dir.path() / "usr/lib/sysimage/dpkg/status");
    fs::create_symlink(status, dir.path() / "usr/lib/sysimage/dpkg/status");
    fs::create_directories(dir.path() / "usr/lib");
    fs::create_symlink(os_release, dir.path() / "usr/lib/os-release");
    auto document = sbom(input);
    const std::string text = document.dump();
    EXPECT_EQ(text.find("Host-Only"), std::string::npos) << text;
    EXPECT_EQ(text.find("The Host"), std::string::npos) << text;
    EXPECT_EQ(text.find("hostos"), std::string::npos) << text;
    EXPECT_EQ(package_with_id(document, "SPDXRef-Package-zlib1g-amd64").at("licenseDeclared"), "NOASSERTION");
}

TEST_F(SbomTest, WithoutADatabaseEveryPackageIsStillListed) {
    fs::remove_all(dir.path() / "usr");
    auto document = sbom(input);
    EXPECT_EQ(document.at("packages").size(), 5u);
    for (const auto& package : document.at("packages")) {
        EXPECT_EQ(package.value("supplier", "NOASSERTION"), "NOASSERTION");
        EXPECT_EQ(package.at("licenseDeclared"), "NOASSERTION");
    }
    EXPECT_FALSE(document.contains("hasExtractedLicensingInfos"));
}

TEST_F(SbomTest, RefusesAnUnknownFormat) {
    input.lock.format = "apk";
    EXPECT_THROW(sbom(input), Error);
}

TEST(SbomIds, KeepOnlyCharactersSpdxAllows) {
    EXPECT_EQ(spdx::package_id("bash", "amd64"), "SPDXRef-Package-bash-amd64");
    EXPECT_EQ(spdx::package_id("libstdc++6", "amd64"), "SPDXRef-Package-libstdc--6-amd64");
    EXPECT_EQ(spdx::package_id("python3.9_x", "x86_64"), "SPDXRef-Package-python3.9-x-x86-64");
}

TEST(SbomIds, CollidingIdsGetASuffix) {
    test::TempDir dir;
    SbomInput input;
    input.lock.format = "deb";
    input.lock.packages = {locked("a+b", "1", "all", "http://example.org/a+b.deb"),
                           locked("a-b", "1", "all", "http://example.org/a-b.deb")};
    input.root = dir.path();
    input.name = "n";
    auto document = sbom(input);
    EXPECT_EQ(package_with_id(document, "SPDXRef-Package-a-b-all").at("name"), "a+b");
    EXPECT_EQ(package_with_id(document, "SPDXRef-Package-a-b-all-2").at("name"), "a-b");
}

TEST(SbomPurl, PercentEncodesVersionsAndPutsRpmEpochsInAQualifier) {
    auto deb = locked("libc6", "2.31-13+deb11u5", "amd64", "");
    EXPECT_EQ(spdx::purl("deb", "debian", deb), "pkg:deb/debian/libc6@2.31-13%2Bdeb11u5?arch=amd64");
    deb.version = "1:2.0~rc1-1";
    EXPECT_EQ(spdx::purl("deb", "Debian", deb), "pkg:deb/debian/libc6@1%3A2.0~rc1-1?arch=amd64");

    auto rpm = locked("NetworkManager", "1:1.42.0-1.fc38", "x86_64", "");
    rpm.epoch = 1;
    rpm.upstream_version = "1.42.0";
    rpm.release = "1.fc38";
    EXPECT_EQ(spdx::purl("rpm", "fedora", rpm), "pkg:rpm/fedora/NetworkManager@1.42.0-1.fc38?arch=x86_64&epoch=1");
    rpm.epoch = 0;
    rpm.version = "0:1.42.0-1.fc38";
    EXPECT_EQ(spdx::purl("rpm", "fedora", rpm), "pkg:rpm/fedora/NetworkManager@1.42.0-1.fc38?arch=x86_64");
    // Without the parts apart, the epoch is taken off the full version.
    rpm.epoch.reset();
    rpm.upstream_version.reset();
    rpm.release.reset();
    rpm.version = "2:3.0-1";
    EXPECT_EQ(spdx::purl("rpm", "rpm", rpm), "pkg:rpm/rpm/NetworkManager@3.0-1?arch=x86_64&epoch=2");
}

TEST(SbomLicense, MapsDebianAndFedoraNamesToSpdx) {
    auto expression = [](std::string_view text) { return spdx::license(text).expression; };
    EXPECT_EQ(expression(""), "NOASSERTION");
    EXPECT_EQ(expression("GPL-2"), "GPL-2.0-only");
    EXPECT_EQ(expression("GPL-2+"), "GPL-2.0-or-later");
    EXPECT_EQ(expression("LGPL-2.1+"), "LGPL-2.1-or-later");
    EXPECT_EQ(expression("LGPL-2.1"), "LGPL-2.1-only");
    EXPECT_EQ(expression("GPL-3.0+"), "GPL-3.0-or-later");
    EXPECT_EQ(expression("AGPL-3"), "AGPL-3.0-only");
    EXPECT_EQ(expression("GFDL-NIV-1.3+"), "GFDL-1.3-no-invariants-or-later");
    EXPECT_EQ(expression("Expat"), "MIT");
    EXPECT_EQ(expression("BSD-3-clause"), "BSD-3-Clause");
    EXPECT_EQ(expression("apache-2.0"), "Apache-2.0");
    EXPECT_EQ(expression("MPL-1.1+"), "MPL-1.1+");
    EXPECT_EQ(expression("GPLv2+ and ASL 2.0"), "GPL-2.0-or-later AND Apache-2.0");
    EXPECT_EQ(expression("GPL+ or Artistic"), "GPL-1.0-or-later OR Artistic-1.0-Perl");
    // SPDX expressions (Fedora's current License tags) pass through.
    EXPECT_EQ(expression("(MIT OR Apache-2.0) AND BSD-3-Clause"), "(MIT OR Apache-2.0) AND BSD-3-Clause");
    EXPECT_EQ(expression("GPL-2.0-or-later WITH Classpath-exception-2.0"),
              "GPL-2.0-or-later WITH Classpath-exception-2.0");
    // DEP-5's comma closes what comes before it.
    EXPECT_EQ(expression("GPL-2 or LGPL-2.1+, and Expat"), "(GPL-2.0-only OR LGPL-2.1-or-later) AND MIT");
    EXPECT_EQ(expression("MIT and ISC or Zlib"), "MIT AND ISC OR Zlib");
}

TEST(SbomLicense, MapsDep5ExceptionsToSpdxExceptions) {
    EXPECT_EQ(spdx::license("GPL-2+ with Autoconf exception").expression,
              "GPL-2.0-or-later WITH Autoconf-exception-2.0");
    EXPECT_EQ(spdx::license("GPL-3+ with autoconf exception").expression,
              "GPL-3.0-or-later WITH Autoconf-exception-3.0");
    EXPECT_EQ(spdx::license("GPL-3+ with GCC-Runtime-3.1 exception or MIT").expression,
              "GPL-3.0-or-later WITH GCC-exception-3.1 OR MIT");
}

TEST(SbomLicense, UnknownNamesBecomeLicenseRefs) {
    auto license = spdx::license("GPL-2+ with OpenSSL exception or BSD");
    EXPECT_EQ(license.expression, "LicenseRef-GPL-2-plus-with-OpenSSL-exception OR LicenseRef-BSD");
    EXPECT_EQ(license.references.size(), 2u);
    EXPECT_EQ(license.references.at("LicenseRef-GPL-2-plus-with-OpenSSL-exception"),
              (spdx::ExtractedLicense{"GPL-2+ with OpenSSL exception", ""}));
    // Unversioned GPL is ambiguous; a broken expression is kept whole.
    EXPECT_EQ(spdx::license("GPL").expression, "LicenseRef-GPL");
    EXPECT_EQ(spdx::license("MIT and (ISC").expression, "LicenseRef-MIT-and-ISC");
    EXPECT_EQ(spdx::license("Permission is hereby granted, free of charge").expression,
              "LicenseRef-Permission-is-hereby-granted-free-of-charge");
    EXPECT_EQ(spdx::license("public-domain").expression, "LicenseRef-public-domain");
}

TEST(SbomLicense, ReadsMachineReadableCopyrightFilesOnly) {
    const std::string format = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n";
    EXPECT_EQ(spdx::dep5_license(format + "Files: *\nLicense: GPL-2+ or Artistic\n").expression,
              "GPL-2.0-or-later OR Artistic-1.0-Perl");
    EXPECT_EQ(
        spdx::dep5_license(format + "Files: *\nLicense: Expat\n\nFiles: a/*\nLicense: Expat and ISC\n").expression,
        "ISC AND MIT");
    EXPECT_EQ(spdx::dep5_license(format + "Files: *\nLicense: public-domain\n").expression, "NOASSERTION");
    // The header's License when no Files paragraph has one; the old DEP-5 URL.
    EXPECT_EQ(spdx::dep5_license("Format: http://dep.debian.net/deps/dep5\nLicense: Zlib\n").expression, "Zlib");
    EXPECT_EQ(spdx::dep5_license("This package was debianized by someone.\n\nLicense: GPL-2\n").expression,
              "NOASSERTION");
    EXPECT_EQ(spdx::dep5_license("").expression, "NOASSERTION");
}

TEST(SbomSupplier, PeopleAndTeams) {
    EXPECT_EQ(spdx::supplier("Matthias Klose <doko@debian.org>"), "Person: Matthias Klose (doko@debian.org)");
    EXPECT_EQ(spdx::supplier("GNU Libc Maintainers <debian-glibc@lists.debian.org>"),
              "Organization: GNU Libc Maintainers (debian-glibc@lists.debian.org)");
    EXPECT_EQ(spdx::supplier("Debian X Strike Force <debian-x@lists.debian.org>"),
              "Organization: Debian X Strike Force (debian-x@lists.debian.org)");
    EXPECT_EQ(spdx::supplier("Debian Install System Team <debian-boot@example.org>"),
              "Organization: Debian Install System Team (debian-boot@example.org)");
    EXPECT_EQ(spdx::supplier("Fedora Project"), "Organization: Fedora Project");
    EXPECT_EQ(spdx::supplier("\"Jane Q. Doe\" <jane@example.org>"), "Person: Jane Q. Doe (jane@example.org)");
    EXPECT_EQ(spdx::supplier("<jane@example.org>"), "Person: jane@example.org");
    EXPECT_EQ(spdx::supplier("  "), "NOASSERTION");
}

// An rpm database made by the real rpm: `rpm -i --justdb` into a root, which needs root (rpm chroots).
class SbomRpmTest : public test::TempDirTest {
protected:
    void SetUp() override {
        if (run_command({"sh", "-c", "command -v rpmbuild && command -v rpm"}).exit_code != 0)
            GTEST_SKIP() << "skipped: rpmbuild and rpm are not installed";
        if (::geteuid() != 0) GTEST_SKIP() << "skipped: rpm --root needs root";
    }

    void sh(const std::string& command) const {
        auto result = run_command({"sh", "-c", command}, dir.path());
        ASSERT_EQ(result.exit_code, 0) << command << "\n" << result.out << result.err;
    }
};

TEST_F(SbomRpmTest, ReadsTheRpmDatabase) {
    dir.write("hello.spec", R"(Name: hello
Version: 1.0
Release: 2
Epoch: 3
Summary: A package for the SBOM test
License: GPLv2+ and ASL 2.0
Vendor: Example Org
BuildArch: noarch

%description
A package for the SBOM test.

%package -n hello-data
Summary: Its data
License: MIT
%description -n hello-data
Its data.

%files
%files -n hello-data
)");
    sh("rpmbuild -bb --quiet --define \"_topdir $PWD/build\" hello.spec >/dev/null");
    sh("rpm --root \"$PWD/root\" --dbpath /usr/lib/sysimage/rpm --justdb --nodeps --noscripts -i "
       "build/RPMS/noarch/hello-1.0-2.noarch.rpm build/RPMS/noarch/hello-data-1.0-2.noarch.rpm");

    SbomInput input;
    input.lock.format = "rpm";
    auto hello = locked("hello", "3:1.0-2", "noarch", "https://example.org/hello-1.0-2.noarch.rpm");
    hello.epoch = 3;
    hello.upstream_version = "1.0";
    hello.release = "2";
    input.lock.packages = {hello, locked("hello-data", "1.0-2", "noarch", "https://example.org/d.rpm"),
                           locked("missing", "1.0-1", "x86_64", "https://example.org/m.rpm")};
    input.root = dir.path() / "root";
    input.name = "fedora-node";
    input.version = "38.1";
    input.commit = commit;
    auto files = [&] {
        std::map<std::string, std::string> result;
        for (const auto& entry : fs::directory_iterator(input.root / "usr/lib/sysimage/rpm"))
            result[entry.path().filename()] = read_file(entry.path());
        return result;
    };
    auto before = files();
    auto document = sbom(input);
    EXPECT_EQ(files(), before); // the image's database is read, never written

    const auto& package = package_with_id(document, "SPDXRef-Package-hello-noarch");
    EXPECT_EQ(package.at("supplier"), "Organization: Example Org");
    EXPECT_EQ(package.at("licenseDeclared"), "GPL-2.0-or-later AND Apache-2.0");
    EXPECT_EQ(package.at("externalRefs")[0].at("referenceLocator"), "pkg:rpm/example/hello@1.0-2?arch=noarch&epoch=3");
    EXPECT_EQ(package_with_id(document, "SPDXRef-Package-hello-data-noarch").at("licenseDeclared"), "MIT");
    const auto& missing = package_with_id(document, "SPDXRef-Package-missing-x86-64");
    EXPECT_EQ(missing.at("supplier"), "NOASSERTION");
    EXPECT_EQ(missing.at("externalRefs")[0].at("referenceLocator"), "pkg:rpm/rpm/missing@1.0-1?arch=x86_64");
}

TEST(SbomRpm, WithoutADatabaseEveryPackageIsStillListed) {
    test::TempDir dir;
    SbomInput input;
    input.lock.format = "rpm";
    input.lock.packages = {locked("bash", "5.2-1.fc38", "x86_64", "https://example.org/bash.rpm")};
    input.root = dir.path();
    input.name = "n";
    for (bool empty_database : {false, true}) {
        if (empty_database) fs::create_directories(dir.path() / "usr/lib/sysimage/rpm");
        auto document = sbom(input);
        const auto& bash = package_with_id(document, "SPDXRef-Package-bash-x86-64");
        EXPECT_EQ(bash.at("supplier"), "NOASSERTION");
        EXPECT_EQ(bash.at("licenseDeclared"), "NOASSERTION");
        EXPECT_EQ(bash.at("externalRefs")[0].at("referenceLocator"), "pkg:rpm/rpm/bash@5.2-1.fc38?arch=x86_64");
    }
    // librpm made no database in the image.
    EXPECT_TRUE(fs::is_empty(dir.path() / "usr/lib/sysimage/rpm"));
}

} // namespace
} // namespace imgbuild::image
