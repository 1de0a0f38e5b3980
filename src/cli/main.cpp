// imgbuild's entry point: parses the command line with CLI11, sets up logging, runs one command, and
// is the only place that catches every error, printing it once and mapping it to an exit code.

#include <iostream>

#include <fmt/format.h>

#include "command.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/interrupt.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/version.hpp"

namespace imgbuild::cli {

void print_diagnostics(const std::vector<Diagnostic>& diagnostics) {
    for (const auto& diagnostic : diagnostics) log::diagnostic(log::Level::error, diagnostic);
}

namespace {

constexpr const char* description = R"(imgbuild builds immutable node OS images for Kubernetes hosts.

A recipe (YAML) names the repos, packages and container-host tuning of an image; imgbuild resolves it
to a lockfile, installs it into a root filesystem, commits it to ostree and makes bootable qcow2/raw
disks. See docs/recipe.md for the recipe language and docs/cli.md for every command.
)";

constexpr const char* footer = R"(Exit codes: 0 success, 1 the build failed, 2 bad usage or a bad recipe.
Run 'imgbuild COMMAND --help' for a command's options.)";

log::Level log_level(const GlobalOptions& options) {
    if (options.quiet) return log::Level::warn;
    if (options.verbose >= 2) return log::Level::trace;
    if (options.verbose == 1) return log::Level::debug;
    return log::Level::info;
}

int run(int argc, char** argv) {
    CLI::App app(description, "imgbuild");
    app.footer(footer);
    app.set_version_flag("--version", fmt::format("imgbuild {} (git {})", version, git_revision));
    app.require_subcommand(1);
    app.fallthrough();

    GlobalOptions global;
    app.add_option("--set", global.set, "Set a variable (or a recipe key such as version, image.size): NAME=VALUE")
        ->type_name("NAME=VALUE")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("--cache-dir", global.cache_dir, "Where downloads and caches live (default: ~/.cache/imgbuild)")
        ->type_name("DIR");
    app.add_flag("--offline", global.offline, "Use cached repository metadata and packages only");
    app.add_flag("--no-wait", global.no_wait,
                 "Fail at once when another imgbuild is writing the same output bundle or repository, instead of "
                 "waiting for it");
    app.add_option("-j,--jobs", global.jobs, "Parallel downloads and work")
        ->capture_default_str()
        ->check(CLI::Range(1u, 64u));
    app.add_flag("-v,--verbose", global.verbose, "More output (-vv for tracing)");
    app.add_flag("-q,--quiet", global.quiet, "Only warnings and errors");
    app.add_option("--log-format", global.log_format, "text, or json for one JSON object per line")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();

    std::vector<std::pair<CLI::App*, std::unique_ptr<Command>>> registered;
    for (const auto& entry : commands()) {
        if (!entry.make) continue; // a helper with its own arguments (main below)
        CLI::App* sub = app.add_subcommand(entry.name, entry.summary);
        if (*entry.summary == '\0') sub->group(""); // hidden from --help
        auto command = entry.make();
        command->setup(*sub);
        registered.emplace_back(sub, std::move(command));
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "imgbuild: error: " << e.what() << "\nRun 'imgbuild --help' for usage.\n";
        return static_cast<int>(ExitCode::usage);
    }

    log::setup(log_level(global), global.log_format == "json" ? log::Format::json : log::Format::text);
    // SIGINT and SIGTERM stop the run cleanly: children ended, partial outputs removed, exit 130/143.
    interrupt::install();
    for (auto& [sub, command] : registered) {
        if (!sub->parsed()) continue;
        try {
            int code = command->run(global);
            interrupt::wait_if_stopping();
            return code;
        } catch (const RecipeError& e) {
            interrupt::wait_if_stopping();
            print_diagnostics(e.diagnostics());
            return static_cast<int>(e.exit_code());
        } catch (const Error& e) {
            interrupt::wait_if_stopping();
            log::error("{}", e.what());
            return static_cast<int>(e.exit_code());
        } catch (const std::exception& e) {
            interrupt::wait_if_stopping();
            log::error("internal error: {}", e.what());
            return static_cast<int>(ExitCode::failed);
        }
    }
    return static_cast<int>(ExitCode::usage);
}

} // namespace
} // namespace imgbuild::cli

int main(int argc, char** argv) {
    // A helper with arguments of its own is run as it is, before anything of the command line's.
    if (argc > 1) {
        for (const auto& entry : imgbuild::cli::commands())
            if (entry.helper_main && std::string_view(argv[1]) == entry.name)
                return entry.helper_main(std::vector<std::string>(argv + 2, argv + argc));
    }
    return imgbuild::cli::run(argc, argv);
}
