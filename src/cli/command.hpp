#pragma once
// A subcommand of imgbuild: a small struct that declares its options and runs. Commands are listed in
// one table (commands/registry.cpp), the way dnf5 and Nix register theirs.

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <unistd.h>

#include "imgbuild/core/files.hpp"
#include "imgbuild/pipeline/pipeline.hpp"
#include "imgbuild/recipe/recipe.hpp"

namespace imgbuild::cli {

// Options every command accepts, before or after the command's name.
struct GlobalOptions {
    std::vector<std::string> set; // --set NAME=VALUE
    int verbose = 0;
    bool quiet = false;
    std::string log_format = "text";
    std::string cache_dir; // empty: default_cache_dir()
    bool offline = false;
    unsigned jobs = 8;
    bool no_wait = false; // --no-wait: fail instead of waiting for another imgbuild's output directory

    std::filesystem::path cache() const {
        return cache_dir.empty() ? default_cache_dir() : std::filesystem::path(cache_dir);
    }

    // What the pipeline's stages need from the command line; progress lines only on a terminal.
    pipeline::Context pipeline_context() const {
        bool terminal = ::isatty(STDERR_FILENO) && log_format == "text" && !quiet;
        pipeline::Context context{cache(), offline, jobs, terminal};
        context.wait_for_locks = !no_wait;
        return context;
    }

    // The recipe stage's options; IMGBUILD_APT_DIR replaces /etc/apt as the source of the built-in
    // mirror variables (for containers whose apt configuration lives elsewhere, and for tests).
    recipe::LoadOptions load_options() const {
        const char* apt_dir = std::getenv("IMGBUILD_APT_DIR");
        return recipe::LoadOptions{set, apt_dir && *apt_dir ? apt_dir : "/etc/apt"};
    }
};

class Command {
public:
    virtual ~Command() = default;
    // Adds the command's options to its subcommand.
    virtual void setup(CLI::App& command) = 0;
    // Runs it; returns the process exit code. Errors are thrown (main prints them).
    virtual int run(const GlobalOptions& global) = 0;
};

struct CommandEntry {
    const char* name;
    const char* summary; // empty: hidden from --help, an internal helper imgbuild runs itself
    std::unique_ptr<Command> (*make)();
    // Set instead of `make` for a helper that reads its own arguments (everything after its name): it runs
    // before the command line is parsed, logging is set up or signals are caught.
    int (*helper_main)(const std::vector<std::string>& args) = nullptr;
};

// Every command, in the order --help lists them.
const std::vector<CommandEntry>& commands();

// Prints each finding of a recipe (FILE:LINE:COL: message) to stderr, as text or JSON lines.
void print_diagnostics(const std::vector<Diagnostic>& diagnostics);

} // namespace imgbuild::cli
