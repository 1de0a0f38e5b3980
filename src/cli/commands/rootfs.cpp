// imgbuild rootfs RECIPE -o DIR: the image's tree in DIR, as commit would commit it (for looking inside);
// --stage install stops after the packages.

#include <iostream>

#include "../command.hpp"
#include "imgbuild/pipeline/pipeline.hpp"

namespace imgbuild::cli {
namespace {

struct Rootfs final : Command {
    std::string path;
    std::string output;
    std::string stage = "customize";

    void setup(CLI::App& command) override {
        command.add_option("RECIPE", path, "Recipe file")->required();
        command.add_option("-o,--output", output, "The directory to create (must not exist, or be empty)")
            ->required()
            ->type_name("DIR");
        command.add_option("--stage", stage, "Stop after this stage: install (the packages only) or customize")
            ->check(CLI::IsMember({"install", "customize"}))
            ->capture_default_str();
        command.footer(
            "Resolves (or uses the recipe's lock:), fetches and installs the packages, scripts in a sandbox;\n"
            "then the recipe's tuning, the kernel and initramfs, and ostree's layout (/usr/etc, no /var).\n"
            "Needs root. Prints DIR on stdout.");
    }

    int run(const GlobalOptions& global) override {
        auto recipe = recipe::load(path, global.load_options());
        pipeline::build_rootfs(recipe, output, global.pipeline_context(),
                               stage == "install" ? pipeline::RootfsStage::install : pipeline::RootfsStage::customize);
        std::cout << output << '\n';
        return 0;
    }
};

} // namespace

std::unique_ptr<Command> make_rootfs() { return std::make_unique<Rootfs>(); }

} // namespace imgbuild::cli
