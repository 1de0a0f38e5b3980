// fork/exec with one pipe for stdout and stderr (the order people read them in) and one for stdin.
// The child dies with us (PR_SET_PDEATHSIG), so an interrupted build leaves no stray processes, and
// inherits only the descriptors it is handed: a leaked one would be a way out of the sandbox.

#include "imgbuild/core/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/close_range.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/fd.hpp"
#include "imgbuild/core/finally.hpp"
#include "imgbuild/core/interrupt.hpp"

extern char** environ;

namespace imgbuild {
namespace {

// What the child tells the parent through the status pipe when it does not get to run the program.
enum class ChildStep : int { cwd, user_namespace, descriptors, exec };
struct ChildFailure {
    ChildStep step;
    int error;
};

// Between fork and exec (async-signal-safe calls only): every descriptor from 3 up is marked
// close-on-exec, then the passed ones are unmarked. The status pipe, O_CLOEXEC, stays open until exec.
bool keep_only(const std::vector<int>& passed) {
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        // Kernels before 5.11 lack CLOSE_RANGE_CLOEXEC: mark them one by one.
        rlimit limit{};
        rlim_t end =
            ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY ? limit.rlim_cur : 1 << 20;
        for (rlim_t fd = 3; fd < end; ++fd) ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    }
    for (int fd : passed)
        if (::fcntl(fd, F_SETFD, 0) != 0) return false;
    return true;
}

} // namespace

std::string ProcessResult::status() const {
    if (signal) return fmt::format("was killed by signal {} ({})", signal, strsignal(signal));
    return fmt::format("exited with status {}", exit_code);
}

std::string ProcessResult::tail(std::size_t lines) const {
    std::size_t pos = output.size();
    if (pos > 0 && output[pos - 1] == '\n') --pos;
    for (std::size_t n = 0; n < lines && pos != std::string::npos && pos > 0; ++n) pos = output.rfind('\n', pos - 1);
    return output.substr(pos == std::string::npos || pos == 0 ? 0 : pos + 1);
}

std::filesystem::path find_program(std::string_view program) {
    if (program.find('/') != std::string_view::npos) return std::filesystem::path(program);
    const char* path = std::getenv("PATH");
    std::string_view dirs = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    while (!dirs.empty()) {
        auto colon = dirs.find(':');
        std::filesystem::path candidate = std::filesystem::path(dirs.substr(0, colon)) / program;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
        if (colon == std::string_view::npos) break;
        dirs.remove_prefix(colon + 1);
    }
    return {};
}

ProcessResult run_process(const ProcessOptions& options) {
    if (options.argv.empty()) throw Error("Failed to run a program: no command given");
    std::filesystem::path program = find_program(options.argv[0]);
    if (program.empty()) throw Error("Failed to run '{}': it is not installed (not found on PATH)", options.argv[0]);

    std::vector<char*> argv;
    for (const auto& arg : options.argv) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    std::vector<std::string> env_storage;
    if (!options.clean_env)
        for (char** e = environ; *e; ++e) env_storage.emplace_back(*e);
    for (const auto& entry : options.env) {
        auto name = entry.substr(0, entry.find('=') + 1);
        std::erase_if(env_storage, [&](const std::string& e) { return e.starts_with(name); });
        env_storage.push_back(entry);
    }
    std::vector<char*> envp;
    for (auto& entry : env_storage) envp.push_back(entry.data());
    envp.push_back(nullptr);

    for (int fd : options.pass_fds)
        if (fd < 3 || ::fcntl(fd, F_GETFD) < 0)
            throw Error("Failed to run '{}': descriptor {} to hand it is not open", options.argv[0], fd);

    Pipe out, in, status_pipe;
    try {
        out = make_pipe();
        in = make_pipe();
        status_pipe = make_pipe();
    } catch (const SysError<>& e) {
        throw SysError(e.errnum(), "run '{}'", options.argv[0]);
    }
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) throw SysError(errno, "run '{}'", options.argv[0]);
    if (pid == 0) {
        auto fail = [&](ChildStep step) {
            ChildFailure failure{step, errno};
            (void)!::write(status_pipe.write.get(), &failure, sizeof failure);
            _exit(127);
        };
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) _exit(127);
        ::dup2(in.read.get(), STDIN_FILENO);
        ::dup2(out.write.get(), STDOUT_FILENO);
        ::dup2(out.write.get(), STDERR_FILENO);
        if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) fail(ChildStep::cwd);
        if (options.user_namespace >= 0 && ::setns(options.user_namespace, CLONE_NEWUSER) != 0)
            fail(ChildStep::user_namespace);
        if (!keep_only(options.pass_fds)) fail(ChildStep::descriptors);
        ::execve(program.c_str(), argv.data(), envp.data());
        fail(ChildStep::exec);
    }
    // A stop signal ends the child before the run's partial work is removed (core/interrupt.hpp).
    interrupt::track_child(pid);
    Finally untrack([pid] { interrupt::untrack_child(pid); });
    in.read.close();
    out.write.close();
    status_pipe.write.close();
    ChildFailure failure{};
    if (::read(status_pipe.read.get(), &failure, sizeof failure) == sizeof failure) {
        status_pipe = {};
        in.write.close();
        out.read.close();
        ::waitpid(pid, nullptr, 0);
        std::string reason = errno_text(failure.error);
        switch (failure.step) {
        case ChildStep::cwd:
            throw Error("Failed to run '{}': cannot enter '{}': {}", options.argv[0], options.cwd.string(), reason);
        case ChildStep::user_namespace:
            throw Error("Failed to run '{}': cannot join its user namespace: {}", options.argv[0], reason);
        case ChildStep::descriptors:
            throw Error("Failed to run '{}': cannot hand it its descriptors: {}", options.argv[0], reason);
        case ChildStep::exec: break;
        }
        throw Error("Failed to run '{}': {}", options.argv[0], reason);
    }
    status_pipe.read.close();

    ProcessResult result;
    std::size_t written = 0;
    if (options.input.empty()) in.write.close();
    std::string pending;
    char buffer[8192];
    while (true) {
        pollfd fds[2] = {{out.read.get(), POLLIN, 0},
                         {options.input.empty() || written == options.input.size() ? -1 : in.write.get(), POLLOUT, 0}};
        if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
        if (fds[1].fd >= 0 && (fds[1].revents & (POLLOUT | POLLERR))) {
            ssize_t n = ::write(in.write.get(), options.input.data() + written, options.input.size() - written);
            if (n > 0) written += static_cast<std::size_t>(n);
            if (n < 0 || written == options.input.size()) {
                in.write.close();
                written = options.input.size();
            }
        }
        if (fds[0].revents & (POLLIN | POLLHUP)) {
            ssize_t n = ::read(out.read.get(), buffer, sizeof buffer);
            if (n <= 0) break;
            result.output.append(buffer, static_cast<std::size_t>(n));
            if (options.on_line) {
                pending.append(buffer, static_cast<std::size_t>(n));
                for (auto newline = pending.find('\n'); newline != std::string::npos; newline = pending.find('\n')) {
                    options.on_line(std::string_view(pending).substr(0, newline));
                    pending.erase(0, newline + 1);
                }
            }
        }
    }
    if (options.on_line && !pending.empty()) options.on_line(pending);
    // Both closed before the wait: a child still writing or reading sees the pipe end.
    out.read.close();
    in.write.close();
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status))
        result.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        result.signal = WTERMSIG(status);
    return result;
}

} // namespace imgbuild
