// Scoped timers: "<what>: 12.3 ms" at debug level when the scope ends.

#include "imgbuild/core/timer.hpp"

#include "imgbuild/core/log.hpp"

namespace imgbuild {

ScopedTimer::~ScopedTimer() { log::debug("{}: {:.1f} ms", m_what, seconds() * 1000.0); }

} // namespace imgbuild
