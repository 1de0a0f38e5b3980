#pragma once
// What every stage of a run is handed: the cache and the run's settings, where it notes what it did
// and why (build --explain), and the one timer that records each stage's seconds (manifest.json).

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "imgbuild/core/timer.hpp"

namespace imgbuild::pipeline {

// One line of `build --explain`: what a stage did, and why.
struct StageNote {
    std::string stage;
    std::string action; // reused, built, ran or skipped
    std::string why;
};

struct Context {
    std::filesystem::path cache_dir;
    bool offline = false;
    unsigned jobs = 8;
    bool progress = false;                   // progress lines on stderr
    std::vector<StageNote>* notes = nullptr; // when set, each stage adds what it did and why
    // When another imgbuild holds the output bundle or repository: wait for it (true) or fail at once.
    bool wait_for_locks = true;
    // The seconds of each stage by name, shared by the copies of this context (a build hands its
    // context down the stages): what a build's manifest.json lists under timings.
    std::shared_ptr<StageTimes> times = std::make_shared<StageTimes>();

    // Runs step() as the stage `name`, timed and recorded in `times`; returns what step() returns.
    // Only the thread running the pipeline records (StageTimes is not shared between threads).
    template <class Step>
    decltype(auto) stage(const std::string& name, Step&& step) const {
        return times->run(name, std::forward<Step>(step));
    }
};

// Adds a line to the context's notes (when it keeps them) and logs it at debug level.
void note(const Context& context, std::string stage, std::string action, std::string why);

} // namespace imgbuild::pipeline
