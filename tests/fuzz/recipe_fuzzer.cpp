// libFuzzer on the recipe reader: each input is a recipe file, loaded the way `imgbuild validate`
// loads one. A RecipeError is the answer to bad input; any other exception, a crash, a sanitizer
// report, a hang or a memory blow-up is a finding. Build with clang and -DIMGBUILD_FUZZ=ON, then run
// e.g. `recipe_fuzzer -max_total_time=300 -rss_limit_mb=1024 -timeout=5 CORPUS_DIR` (docs/recipe.md).

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/recipe/recipe.hpp"

namespace {

// The input goes into a memfd, a regular file in memory, which the loader reads by its /proc path:
// nothing is written to disk per input.
int recipe_file() {
    static int fd = [] {
        imgbuild::log::setup(imgbuild::log::Level::off, imgbuild::log::Format::text);
        int created = ::memfd_create("recipe.yaml", MFD_CLOEXEC);
        if (created < 0) std::abort();
        return created;
    }();
    return fd;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    int fd = recipe_file();
    if (::ftruncate(fd, 0) != 0) std::abort();
    for (std::size_t done = 0; done < size;) {
        ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
        if (n <= 0) std::abort();
        done += static_cast<std::size_t>(n);
    }
    imgbuild::recipe::LoadOptions options;
    options.apt_dir = "/nonexistent-apt";
    try {
        imgbuild::recipe::load("/proc/self/fd/" + std::to_string(fd), options);
    } catch (const imgbuild::RecipeError&) {
        // A bad recipe, reported as one: what bad input should give.
    } catch (const std::exception& e) {
        std::fprintf(stderr, "not a RecipeError: %s\n", e.what());
        std::abort();
    }
    return 0;
}
