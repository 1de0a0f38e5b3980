#pragma once
// Wall-clock timing of a scope: logged at debug level, and readable for stage timings in manifests.

#include <chrono>
#include <string>

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

} // namespace imgbuild
