#pragma once
// Which accelerator the boot tests use: KVM only when it boots a stock kernel here, else TCG.

#include <filesystem>
#include <string>

namespace imgbuild::verify {

struct AccelProbe {
    std::string requested = "auto";  // auto, kvm, tcg
    std::filesystem::path cache_dir; // the verdict, per host kernel and QEMU
    std::filesystem::path work_dir;
    // The image's kernel, from its repository.
    std::filesystem::path repo;
    std::string commit;
    std::string kernel_version;
};

// "kvm" or "tcg".
std::string choose_accel(const AccelProbe& probe);

} // namespace imgbuild::verify
