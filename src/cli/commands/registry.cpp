// The table of imgbuild's commands. A command appears here when its stage is real.

#include "../command.hpp"

namespace imgbuild::cli {

std::unique_ptr<Command> make_validate();
std::unique_ptr<Command> make_show();
std::unique_ptr<Command> make_schema();
std::unique_ptr<Command> make_lock();
std::unique_ptr<Command> make_diff();
std::unique_ptr<Command> make_fetch();
std::unique_ptr<Command> make_rootfs();

const std::vector<CommandEntry>& commands() {
    static const std::vector<CommandEntry> table = {
        {"validate", "Check recipes; print every mistake as FILE:LINE:COL: message", make_validate},
        {"show", "Print the merged recipe (includes and variables applied) as JSON", make_show},
        {"schema", "Print the recipe JSON Schema (for editors and other tools)", make_schema},
        {"lock", "Resolve the recipe's packages with libsolv and write the lockfile", make_lock},
        {"fetch", "Download every locked package into the cache, each verified against the lock", make_fetch},
        {"rootfs", "Install the recipe's packages into a directory (scripts run in a sandbox; needs root)",
         make_rootfs},
        {"diff", "Compare two lockfiles: packages added, removed, upgraded, downgraded", make_diff},
    };
    return table;
}

} // namespace imgbuild::cli
