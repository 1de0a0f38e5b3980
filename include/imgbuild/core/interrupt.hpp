#pragma once
// Interrupted runs leave nothing behind. SIGINT, SIGTERM and SIGHUP are turned into a clean stop: a
// watcher thread ends the programs imgbuild started, unmounts what it mounted, removes the partial
// outputs and work directories still registered, and exits with 128 + the signal (130, 143, 129).
// What a SIGKILL leaves, the next run removes (sweep_dead_leftovers): every per-process name carries
// its process id, and a name whose process is gone is garbage.

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <regex>
#include <string>

namespace imgbuild::interrupt {

// Installs the signal handlers and the watcher thread (once; later calls do nothing).
void install();

// True once a stop signal arrived (long loops may stop early).
bool requested();

// When a stop signal arrived: waits for the watcher to finish and exit the process (never returns).
// main() calls it before it reports an error or returns, so the errors of programs the stop ended are
// not reported as the run's, and the exit code is the signal's.
void wait_if_stopping();

// A clean-up to run if the process is stopped by a signal while the object lives (in reverse order of
// registration, before the exit). Not run at a normal scope exit: the owner's destructor does that.
class OnInterrupt {
public:
    explicit OnInterrupt(std::function<void()> action);
    ~OnInterrupt();
    OnInterrupt(const OnInterrupt&) = delete;
    OnInterrupt& operator=(const OnInterrupt&) = delete;

private:
    std::uint64_t m_id;
};

// A child process imgbuild started: sent SIGTERM (then SIGKILL) on a stop, before the clean-ups run,
// so nothing writes into a directory while it is removed.
void track_child(pid_t pid);
void untrack_child(pid_t pid);

// Whether a process `pid` exists. A reused id counts as alive: its leftover waits for a later run, which
// is the safe way to be wrong.
bool process_alive(pid_t pid);

// Removes the entries of `dir` whose names match `pattern` (the first of its groups that matched is the
// process id; a group that matches other text than digits must not come first) and whose
// process is gone, unmounting anything still mounted at or below them first. Errors are logged, not
// thrown: a leftover that cannot go is left for the next run. Returns how many entries were removed.
std::size_t sweep_dead_leftovers(const std::filesystem::path& dir, const std::regex& pattern);

// Unmounts (lazily) every mount at or below `path`, deepest first.
void unmount_below(const std::filesystem::path& path);

} // namespace imgbuild::interrupt
