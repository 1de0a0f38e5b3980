// solve(): kernel.package is installed like a package, and one no repo has is reported at its place in
// the recipe (exit 2), not found missing only when customize looks for a kernel.

#include "resolve/solve.hpp"

#include <algorithm>

#include <gtest/gtest.h>

#include "imgbuild/resolve/resolve.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::resolve {
namespace {

class SolveTest : public test::TempDirTest {
protected:
    // A pool of one Debian repo with a kernel and a package that needs nothing.
    PackagePool pool() {
        auto list = dir.write("Packages", "Package: linux-image-amd64\nVersion: 6.1.1\nArchitecture: amd64\n"
                                          "Filename: pool/l/linux-image-amd64.deb\nSize: 100\n\n"
                                          "Package: hello\nVersion: 1.0\nArchitecture: amd64\n"
                                          "Filename: pool/h/hello.deb\nSize: 10\n\n");
        m_repo.spec.name = "main";
        m_repo.spec.type = "deb";
        m_repo.spec.url = "file:///nonexistent";
        MetadataFile file;
        file.kind = "packages";
        file.path = "main/binary-amd64/Packages";
        file.checksum.hex = "0000000000000000000000000000000000000000000000000000000000000001";
        file.cached = list;
        m_repo.files = {file};
        PackagePool packages("deb", "x86_64");
        MetadataOptions options;
        options.cache_dir = dir.path() / "cache";
        packages.add(m_repo, options);
        packages.prepare(options);
        return packages;
    }

    static bool installs(const PackagePool& packages, const std::vector<Id>& ids, const std::string& name) {
        return std::any_of(ids.begin(), ids.end(), [&](Id id) { return packages.name(id) == name; });
    }

    RepoMetadata m_repo;
};

TEST_F(SolveTest, InstallsTheKernelPackage) {
    auto packages = pool();
    SolveInput input;
    input.install = {{"hello", Location{"r.yaml", 9, 5}}};
    input.kernel = PackageRequest{"linux-image-amd64", Location{"r.yaml", 12, 12}};
    auto ids = solve(packages, input);
    EXPECT_TRUE(installs(packages, ids, "linux-image-amd64"));
    EXPECT_TRUE(installs(packages, ids, "hello"));
}

TEST_F(SolveTest, AKernelPackageNoRepoHasIsAnErrorAtItsPlace) {
    auto packages = pool();
    SolveInput input;
    input.install = {{"hello", Location{"r.yaml", 9, 5}}};
    input.kernel = PackageRequest{"linux-image-amdd64", Location{"r.yaml", 12, 12}};
    try {
        solve(packages, input);
        FAIL() << "a kernel package no repo has was accepted";
    } catch (const ResolveError& e) {
        EXPECT_EQ(e.exit_code(), ExitCode::usage);
        EXPECT_NE(std::string(e.what()).find("r.yaml:12:12: no repo has the kernel package (kernel.package) "
                                             "'linux-image-amdd64' (did you mean 'linux-image-amd64'?)"),
                  std::string::npos)
            << e.what();
    }
}

} // namespace
} // namespace imgbuild::resolve
