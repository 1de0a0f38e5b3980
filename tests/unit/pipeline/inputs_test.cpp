// What a build is made from and what its commit records: the inputs and their digest, the install key,
// and the commit's options and metadata.

#include <gtest/gtest.h>

#include "imgbuild/commit/metadata.hpp"
#include "imgbuild/core/digest.hpp"
#include "imgbuild/resolve/resolve.hpp"
#include "pipeline/inputs.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::pipeline {
namespace {

using json = nlohmann::json;
using test::TempDirTest;

class Inputs : public TempDirTest {
protected:
    recipe::Recipe load(const std::string& extra = "") const {
        auto path =
            dir.write("r.yaml", "name: n\n"
                                "format: deb\n"
                                "repos: [{name: r, type: deb, url: 'http://mirror.example/debian', suite: bookworm}]\n"
                                "packages: [a]\n" +
                                    extra);
        return recipe::load(path, recipe::LoadOptions{{}, dir.path() / "no-apt"});
    }

    static resolve::Lock lock() {
        resolve::Lock lock;
        lock.recipe_name = "n";
        lock.format = "deb";
        lock.arch = "amd64";
        lock.source_date_epoch = 1700000000;
        lock.packages.push_back(resolve::LockedPackage{
            "a", "1.0-1", {}, {}, {}, "amd64", "r", "http://x/a.deb", Checksum{DigestType::sha256, "11"}, 10, 20});
        lock.packages.push_back(resolve::LockedPackage{
            "b", "2.0-1", {}, {}, {}, "all", "r", "http://x/b.deb", Checksum{DigestType::sha256, "22"}, 10, 20});
        return lock;
    }
};

TEST_F(Inputs, TheDigestIsThatOfTheInputs) {
    auto recipe = load();
    auto inputs = BuildInputs::of(recipe, lock());
    EXPECT_EQ(inputs.json, build_inputs(recipe, lock()));
    EXPECT_EQ(inputs.digest, "sha256:" + sha256_hex(inputs.json.dump()));
    EXPECT_EQ(inputs.digest, build_inputs_digest(recipe, lock()));
    EXPECT_EQ(inputs.json["packages"], package_lines(lock()));
}

TEST_F(Inputs, PackageLinesNameVersionArchChecksum) {
    EXPECT_EQ(package_lines(lock()), json({"a 1.0-1 amd64 sha256:11", "b 2.0-1 all sha256:22"}));
}

TEST_F(Inputs, TheInstallKeyFollowsPackagesAndSettingsNotTheDate) {
    install::InstallOptions options;
    auto key = install_key(lock(), options);
    EXPECT_EQ(key.size(), 64u);
    EXPECT_EQ(install_key(lock(), options), key);
    auto later = lock();
    later.source_date_epoch += 86400;
    EXPECT_EQ(install_key(later, options), key);
    auto changed = lock();
    changed.packages[1].version = "2.0-2";
    EXPECT_NE(install_key(changed, options), key);
    auto no_docs = options;
    no_docs.docs = !options.docs;
    EXPECT_NE(install_key(lock(), no_docs), key);
    EXPECT_EQ(install_settings(lock(), no_docs)["docs"], no_docs.docs);
}

TEST_F(Inputs, TheCommitRecordsItsInputsUnderTheMetadataKeys) {
    auto recipe = load("ostree: {static-delta: true}\n");
    auto inputs = BuildInputs::of(recipe, lock());
    auto options = commit_options(recipe, lock(), inputs, {"imgbuild/n/x86_64", "20231114.0", "6.1.0-13-amd64", {}});
    EXPECT_EQ(options.ref, "imgbuild/n/x86_64");
    EXPECT_EQ(options.subject, "n 20231114.0");
    EXPECT_EQ(options.version, "20231114.0");
    EXPECT_EQ(options.kernel_version, "6.1.0-13-amd64");
    EXPECT_EQ(options.timestamp, 1700000000);
    EXPECT_TRUE(options.static_delta);
    EXPECT_FALSE(options.sign);
    EXPECT_EQ(options.packages, (std::vector<std::string>{"a 1.0-1 amd64", "b 2.0-1 all"}));
    namespace key = commit::key;
    auto at = [&](std::string_view name) { return options.metadata.at(std::string(name)); };
    EXPECT_EQ(at(key::recipe), "n");
    EXPECT_EQ(at(key::recipe_digest), resolve::recipe_digest(recipe));
    EXPECT_EQ(at(key::lock_digest), "sha256:" + sha256_hex(resolve::lock_text(lock())));
    EXPECT_EQ(at(key::inputs_digest), inputs.digest);
    EXPECT_EQ(at(key::inputs), inputs.json.dump());
    EXPECT_EQ(at(key::format), "deb");
    EXPECT_EQ(at(key::arch), "amd64");
    EXPECT_EQ(at(key::ref), "imgbuild/n/x86_64");
    EXPECT_EQ(at(key::lock), resolve::lock_text(lock()));
    auto image = json::parse(at(key::image));
    EXPECT_EQ(image["name"], "n");
    EXPECT_TRUE(image.contains("checks"));
    EXPECT_TRUE(at(key::tool).starts_with("imgbuild ")) << at(key::tool);
    EXPECT_EQ(options.metadata.size(), 11u);
}

TEST_F(Inputs, AnUnchangedHeadIsReusedUnlessForced) {
    auto recipe = load();
    auto inputs = BuildInputs::of(recipe, lock());
    Context context;
    commit::CommitInfo head;
    head.checksum = "abc";
    head.version = "20231114.0";
    head.metadata[std::string(commit::key::inputs_digest)] = inputs.digest;
    auto reused = unchanged_head(head, "r", inputs, false, context);
    ASSERT_TRUE(reused);
    EXPECT_TRUE(reused->unchanged);
    EXPECT_EQ(reused->checksum, "abc");
    EXPECT_EQ(reused->version, "20231114.0");
    EXPECT_FALSE(unchanged_head(head, "r", inputs, true, context)) << "--force";
    EXPECT_FALSE(unchanged_head(std::nullopt, "r", inputs, false, context));
    head.metadata[std::string(commit::key::inputs_digest)] = "sha256:other";
    EXPECT_FALSE(unchanged_head(head, "r", inputs, false, context));
}

} // namespace
} // namespace imgbuild::pipeline
