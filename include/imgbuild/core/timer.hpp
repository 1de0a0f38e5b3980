#pragma once
// Wall-clock timing of a scope: logged at debug level, and readable for stage timings in manifests.

#include <chrono>
#include <map>
#include <string>
#include <utility>

namespace imgbuild {

class ScopedTimer {
public:
    explicit ScopedTimer(std::string what) : m_what(std::move(what)), m_start(std::chrono::steady_clock::now()) {}
    ~ScopedTimer();
    ScopedTimer(const ScopedTimer&) = delete;
    ScopedTimer& operator=(const ScopedTimer&) = delete;

    double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count(); }

private:
    std::string m_what;
    std::chrono::steady_clock::time_point m_start;
};

// The seconds each stage of a run took, by name: what a build's manifest.json lists under timings.
// One recorder is handed down the stages, so every stage is timed the same way and none by hand.
class StageTimes {
public:
    // Runs step() as the stage `name` (logged at debug level like ScopedTimer) and returns what it
    // returns; the seconds are recorded when it throws too. A stage run twice adds up.
    template <class Step>
    decltype(auto) run(const std::string& name, Step&& step) {
        struct Record {
            StageTimes& times;
            const std::string& name;
            ScopedTimer timer;
            ~Record() { times.add(name, timer.seconds()); }
        } record{*this, name, ScopedTimer(name)};
        return std::forward<Step>(step)();
    }
    void add(const std::string& name, double seconds) { m_seconds[name] += seconds; }
    const std::map<std::string, double>& seconds() const { return m_seconds; }

private:
    std::map<std::string, double> m_seconds;
};

} // namespace imgbuild
