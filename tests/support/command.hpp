#pragma once
// Runs a program (the imgbuild binary, mostly) and captures its exit code, stdout and stderr.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace imgbuild::test {

struct CommandResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

// Runs `argv` in `cwd` (if not empty) with `env` added to the environment; waits for it.
CommandResult run_command(const std::vector<std::string>& argv, const std::filesystem::path& cwd = {},
                          const std::map<std::string, std::string>& env = {});

// The imgbuild binary under test, with `args`.
CommandResult run_imgbuild(const std::vector<std::string>& args, const std::filesystem::path& cwd = {},
                           const std::map<std::string, std::string>& env = {});

} // namespace imgbuild::test
