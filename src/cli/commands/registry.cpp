// The table of imgbuild's commands, in the order --help lists them, and of the hidden helpers imgbuild
// runs as itself (no summary): `internal-deploy` as a command, `__rpm-transaction` with its own arguments.

#include "../command.hpp"
#include "imgbuild/install/install.hpp"

namespace imgbuild::cli {

std::unique_ptr<Command> make_validate();
std::unique_ptr<Command> make_show();
std::unique_ptr<Command> make_schema();
std::unique_ptr<Command> make_lock();
std::unique_ptr<Command> make_diff();
std::unique_ptr<Command> make_fetch();
std::unique_ptr<Command> make_rootfs();
std::unique_ptr<Command> make_commit();
std::unique_ptr<Command> make_kernel_check();
std::unique_ptr<Command> make_image();
std::unique_ptr<Command> make_build();
std::unique_ptr<Command> make_test();
std::unique_ptr<Command> make_internal_deploy();

const std::vector<CommandEntry>& commands() {
    static const std::vector<CommandEntry> table = {
        {"build", "Build the recipe into a bundle: ostree repo, disk images, manifest, SBOM (needs root)", make_build},
        {"validate", "Check recipes; print every mistake as FILE:LINE:COL: message", make_validate},
        {"show", "Print the merged recipe (includes and variables applied) as JSON", make_show},
        {"schema", "Print the recipe JSON Schema (for editors and other tools)", make_schema},
        {"lock", "Resolve the recipe's packages with libsolv and write the lockfile", make_lock},
        {"fetch", "Download every locked package into the cache, each verified against the lock", make_fetch},
        {"rootfs", "Build the image's tree into a directory: packages, tuning, kernel, ostree layout (needs root)",
         make_rootfs},
        {"commit", "Build the recipe and commit it to its ostree ref; print the checksum (needs root)", make_commit},
        {"image", "Make a commit's bootable disk images (raw, qcow2; BIOS and UEFI), manifest and SBOM (needs root)",
         make_image},
        {"test", "Boot an image under QEMU and check it from inside; upgrade and roll back (--upgrade-to)", make_test},
        {"diff", "Compare two lockfiles or commits: packages added, removed, upgraded, downgraded", make_diff},
        {"kernel-check", "Check a kernel config, or a recipe's kernel, against what the image needs",
         make_kernel_check},
        // Hidden (no summary): the deploying half of `image`, run by it in a user namespace.
        {"internal-deploy", "", make_internal_deploy},
        // Hidden: the rpm transaction, run by the install stage inside its sandbox (src/install/rpm.cpp).
        {"__rpm-transaction", "", nullptr, install::rpm_transaction_main},
    };
    return table;
}

} // namespace imgbuild::cli
