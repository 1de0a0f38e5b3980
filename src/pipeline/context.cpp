// The context's notes: what each stage did and why, for `build --explain` and the debug log.

#include "imgbuild/pipeline/context.hpp"

#include "imgbuild/core/log.hpp"

namespace imgbuild::pipeline {

void note(const Context& context, std::string stage, std::string action, std::string why) {
    log::debug("{}: {}{}{}", stage, action, why.empty() ? "" : ": ", why);
    if (context.notes) context.notes->push_back({std::move(stage), std::move(action), std::move(why)});
}

} // namespace imgbuild::pipeline
