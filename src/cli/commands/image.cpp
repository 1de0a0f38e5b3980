// imgbuild image --repo REPO --ref REF -o OUTDIR: a commit's bootable disks, manifest and SBOM.

#include <iostream>

#include <fmt/format.h>

#include "../command.hpp"
#include "imgbuild/image/image.hpp"

namespace imgbuild::cli {
namespace {

struct Image final : Command {
    std::string repo = "repo";
    std::string ref;
    std::string outdir;
    std::vector<std::string> formats;
    std::vector<std::string> boot;

    void setup(CLI::App& command) override {
        command.add_option("--repo", repo, "The ostree repository holding the commit")
            ->capture_default_str()
            ->type_name("REPO");
        command.add_option("--ref", ref, "The ref (or commit checksum) to image")->required()->type_name("REF");
        command.add_option("-o,--output", outdir, "Directory for the images, manifest.json and sbom.spdx.json")
            ->required()
            ->type_name("OUTDIR");
        command.add_option("--format", formats, "qcow2, raw (default: the recipe's image.formats)")
            ->delimiter(',')
            ->check(CLI::IsMember({"qcow2", "raw"}));
        command.add_option("--boot", boot, "bios, uefi (default: the recipe's image.boot)")
            ->delimiter(',')
            ->check(CLI::IsMember({"bios", "uefi"}));
        command.footer(
            "Deploys the commit into a sysroot (libostree, in a user namespace), lays out one GPT disk that boots\n"
            "under BIOS and UEFI (GRUB in a BIOS boot partition and on the ESP, ext4 root), and writes the raw\n"
            "and qcow2 images (and the zlib qcow2 ECS and CVM import, per image.platform) with manifest.json,\n"
            "sbom.spdx.json and SHA256SUMS. Settings come from the recipe the commit was built from (stored in\n"
            "it). Needs root. Prints the output directory on stdout.");
    }

    int run(const GlobalOptions& global) override {
        auto context = global.pipeline_context();
        FileLock lock(std::filesystem::path(outdir) / ".imgbuild.lock",
                      fmt::format("the output directory '{}'", outdir), context.wait_for_locks);
        pipeline::sweep_leftovers(context);
        image::ImageOptions options;
        options.repo = repo;
        options.ref = ref;
        options.outdir = outdir;
        options.formats = formats;
        options.boot = boot;
        options.cache_dir = global.cache();
        options.build_repo = global.cache() / "ostree";
        options.jobs = global.jobs;
        image::make_image(options);
        std::cout << outdir << '\n';
        return 0;
    }
};

// The deploying half of `image`, run by it in a user namespace; not for people.
struct InternalDeploy final : Command {
    std::string spec;
    void setup(CLI::App& command) override { command.add_option("SPEC", spec)->required(); }
    int run(const GlobalOptions&) override { return image::internal_deploy(spec); }
};

} // namespace

std::unique_ptr<Command> make_image() { return std::make_unique<Image>(); }
std::unique_ptr<Command> make_internal_deploy() { return std::make_unique<InternalDeploy>(); }

} // namespace imgbuild::cli
