// Stop signals become a clean exit: the handler only writes the signal into a pipe (async-signal-safe);
// a watcher thread reads it and does the work a handler cannot (locks, logging, unmounting, removing
// trees). A second signal while that runs exits at once.

#include "imgbuild/core/interrupt.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/log.hpp"

namespace imgbuild::interrupt {
namespace {

namespace fs = std::filesystem;

struct State {
    std::mutex mutex; // the actions; held by the watcher from the signal to the exit
    std::map<std::uint64_t, std::function<void()>> actions; // by registration order
    std::uint64_t next_id = 0;
    std::mutex children_mutex;
    std::set<pid_t> children;
};

// Never destroyed: the watcher may still use it while the process exits.
State& state() {
    static auto* instance = new State;
    return *instance;
}

int signal_pipe[2] = {-1, -1};
std::atomic<int> received{0};

void on_signal(int signal) {
    int expected = 0;
    if (!received.compare_exchange_strong(expected, signal)) _exit(128 + expected); // a second signal: now
    char byte = static_cast<char>(signal);
    (void)!::write(signal_pipe[1], &byte, 1);
}

void stop_children(State& s) {
    std::vector<pid_t> children;
    {
        std::lock_guard lock(s.children_mutex);
        children.assign(s.children.begin(), s.children.end());
    }
    for (pid_t pid : children) ::kill(pid, SIGTERM);
    // The threads that started them reap them (and untrack them); give them a moment, then insist.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < deadline) {
        {
            std::lock_guard lock(s.children_mutex);
            if (s.children.empty()) return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::lock_guard lock(s.children_mutex);
    for (pid_t pid : s.children) ::kill(pid, SIGKILL);
}

[[noreturn]] void watch() {
    char byte = 0;
    while (::read(signal_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    int signal = static_cast<unsigned char>(byte);
    log::warn("{} received: stopping, and removing what this run made so far", strsignal(signal));
    State& s = state();
    // Under the lock to the end: the rest of the program stops at its next registration or
    // unregistration (an owner going out of scope as the stopped children's errors unwind waits in
    // ~OnInterrupt), so nothing it removes races with the actions, and no action points at a
    // destroyed owner.
    std::lock_guard lock(s.mutex);
    stop_children(s);
    for (auto it = s.actions.rbegin(); it != s.actions.rend(); ++it) {
        try {
            it->second();
        } catch (const std::exception& e) {
            log::warn("clean-up after the interruption failed: {}", e.what());
        }
    }
    _exit(128 + signal);
}

// The mount points of /proc/self/mountinfo (field 5, with octal escapes for spaces and the like).
std::vector<std::string> mount_points() {
    std::vector<std::string> points;
    std::ifstream info("/proc/self/mountinfo");
    for (std::string line; std::getline(info, line);) {
        std::istringstream fields(line);
        std::string field;
        for (int i = 0; i < 5 && fields >> field; ++i) {
        }
        std::string point;
        for (std::size_t i = 0; i < field.size(); ++i) {
            if (field[i] == '\\' && i + 3 < field.size()) {
                point += static_cast<char>(std::stoi(field.substr(i + 1, 3), nullptr, 8));
                i += 3;
            } else {
                point += field[i];
            }
        }
        points.push_back(point);
    }
    return points;
}

} // namespace

void install() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (::pipe2(signal_pipe, O_CLOEXEC) != 0) return;
        struct sigaction action {};
        action.sa_handler = on_signal;
        action.sa_flags = SA_RESTART;
        sigemptyset(&action.sa_mask);
        for (int signal : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(signal, &action, nullptr);
        std::thread(watch).detach();
    });
}

bool requested() { return received.load() != 0; }

void wait_if_stopping() {
    if (!requested()) return;
    while (true) std::this_thread::sleep_for(std::chrono::seconds(1)); // the watcher exits the process
}

OnInterrupt::OnInterrupt(std::function<void()> action) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    m_id = s.next_id++;
    s.actions.emplace(m_id, std::move(action));
}

OnInterrupt::~OnInterrupt() {
    State& s = state();
    std::lock_guard lock(s.mutex);
    s.actions.erase(m_id);
}

void track_child(pid_t pid) {
    State& s = state();
    std::lock_guard lock(s.children_mutex);
    s.children.insert(pid);
}

void untrack_child(pid_t pid) {
    State& s = state();
    std::lock_guard lock(s.children_mutex);
    s.children.erase(pid);
}

bool process_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

void unmount_below(const fs::path& path) {
    std::error_code ec;
    std::string base = fs::weakly_canonical(fs::absolute(path), ec).string();
    if (ec) return;
    std::vector<std::string> below;
    for (auto& point : mount_points())
        if (point == base || (point.size() > base.size() && point.starts_with(base) && point[base.size()] == '/'))
            below.push_back(std::move(point));
    std::sort(below.begin(), below.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
    for (const auto& point : below) {
        if (::umount2(point.c_str(), MNT_DETACH) == 0)
            log::info("unmounted {}, left mounted by an interrupted imgbuild", point);
        else
            log::warn("could not unmount {}: {}", point, errno_text(errno));
    }
}

std::size_t sweep_dead_leftovers(const fs::path& dir, const std::regex& pattern) {
    std::size_t removed = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        std::string name = entry.path().filename().string();
        std::smatch match;
        if (!std::regex_match(name, match, pattern)) continue;
        std::string digits; // the first group that matched: alternatives may each have one
        for (std::size_t i = 1; i < match.size() && digits.empty(); ++i)
            if (match[i].matched) digits = match[i].str();
        char* end = nullptr;
        long pid = std::strtol(digits.c_str(), &end, 10);
        if (*end != '\0' || pid <= 0 || pid == ::getpid() || process_alive(static_cast<pid_t>(pid))) continue;
        log::info("removing {}, left by an interrupted imgbuild (process {})", entry.path().string(), pid);
        unmount_below(entry.path());
        std::error_code remove_error;
        fs::remove_all(entry.path(), remove_error);
        if (remove_error)
            log::warn("could not remove {}: {}", entry.path().string(), remove_error.message());
        else
            ++removed;
    }
    return removed;
}

} // namespace imgbuild::interrupt
