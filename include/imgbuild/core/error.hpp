#pragma once
// The exceptions imgbuild throws. They unwind (so transactions abort and temp dirs go away) and gather
// context on the way out; only main() catches everything and prints it.

#include <exception>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "imgbuild/core/location.hpp"

namespace imgbuild {

// Process exit codes of the command line contract (docs/design.md §2).
enum class ExitCode : int { ok = 0, failed = 1, usage = 2 };

class Error : public std::exception {
public:
    explicit Error(std::string message) : m_message(std::move(message)), m_what(m_message) {}
    template <class... Args>
    explicit Error(fmt::format_string<Args...> format, Args&&... args)
        : Error(fmt::format(format, std::forward<Args>(args)...)) {}

    // "message", then one "  while …" line per context, innermost first.
    const char* what() const noexcept override { return m_what.c_str(); }
    const std::string& message() const { return m_message; }
    const std::vector<std::string>& context() const { return m_context; }

    void add_context(std::string context);
    template <class... Args>
    void add_context(fmt::format_string<Args...> format, Args&&... args) {
        add_context(fmt::format(format, std::forward<Args>(args)...));
    }

    virtual ExitCode exit_code() const noexcept { return ExitCode::failed; }

private:
    std::string m_message;
    std::vector<std::string> m_context;
    std::string m_what; // built as context is added: what() only reads it
};

// errno's words (strerror): the one place an errno becomes text.
std::string errno_text(int errnum);

// A failed system call, errno formatted once: "Failed to <what>: <strerror(errnum)>". ErrorType is the
// stage's error (CommitError, InstallError, …) so callers catch what they caught before:
// `throw SysError<CommitError>(errno, "open '{}'", path.string())`.
template <class ErrorType = Error>
class SysError : public ErrorType {
public:
    template <class... Args>
    SysError(int errnum, fmt::format_string<Args...> what, Args&&... args)
        : ErrorType(std::string(
              fmt::format("Failed to {}: {}", fmt::format(what, std::forward<Args>(args)...), errno_text(errnum)))),
          m_errnum(errnum) {}

    int errnum() const noexcept { return m_errnum; }

private:
    int m_errnum;
};

// Bad command-line usage: exit code 2.
class UsageError : public Error {
public:
    using Error::Error;
    ExitCode exit_code() const noexcept override { return ExitCode::usage; }
};

// A recipe with mistakes: every finding, each with its file, line and column. Exit code 2.
class RecipeError : public Error {
public:
    explicit RecipeError(std::vector<Diagnostic> diagnostics);
    const std::vector<Diagnostic>& diagnostics() const { return m_diagnostics; }
    ExitCode exit_code() const noexcept override { return ExitCode::usage; }

private:
    std::vector<Diagnostic> m_diagnostics;
};

} // namespace imgbuild
