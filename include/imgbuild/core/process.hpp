#pragma once
// Running programs: argv (never a shell string), output collected line by line, the exit status as a
// value. Only a failure to start the program is an exception. A program inherits no descriptor of ours
// but stdin, stdout, stderr and the ones it is handed (`pass_fds`).

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace imgbuild {

struct ProcessOptions {
    std::vector<std::string> argv;
    // Extra environment ("NAME=VALUE"); with clean_env only these (and nothing of ours).
    std::vector<std::string> env;
    bool clean_env = false;
    std::filesystem::path cwd;
    // Each line of output (stdout and stderr merged), as it comes; all of it also ends up in `output`.
    std::function<void(std::string_view line)> on_line;
    // Bytes fed to the program's stdin (closed after them).
    std::string input;
    // Descriptors the program inherits, at the same numbers (each >= 3). Every other descriptor of
    // ours is closed in it, whether or not it was opened with O_CLOEXEC.
    std::vector<int> pass_fds;
    // A user namespace (a descriptor of /proc/PID/ns/user) the program runs in: the child joins it
    // before exec, so the program never holds the descriptor itself. -1: ours.
    int user_namespace = -1;
};

struct ProcessResult {
    int exit_code = -1; // -1 when killed by a signal
    int signal = 0;
    std::string output;

    bool ok() const { return exit_code == 0; }
    // "exited with status 1", "was killed by signal 9 (Killed)"
    std::string status() const;
    // The last `lines` lines of output, for error messages.
    std::string tail(std::size_t lines = 20) const;
};

// Runs the program and waits for it. Throws Error when it cannot be started.
ProcessResult run_process(const ProcessOptions& options);

// Runs the program; when it fails, throws ErrorType "Failed to WHAT: PROGRAM STATUS:" with the end of
// its output.
template <class ErrorType>
ProcessResult run_checked(const ProcessOptions& options, std::string_view what) {
    auto result = run_process(options);
    if (!result.ok())
        throw ErrorType("Failed to {}: {} {}:\n{}", what, options.argv.front(), result.status(), result.tail());
    return result;
}

// The full path of `program` on PATH, or empty.
std::filesystem::path find_program(std::string_view program);

} // namespace imgbuild
