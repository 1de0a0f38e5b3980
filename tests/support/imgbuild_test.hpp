#pragma once
// The fixture of tests that run the imgbuild binary: a temporary directory that is also the working
// directory, and a cache of the test's own in it, so no test sees another's downloads or stage caches.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "support/command.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::test {

// The environment of tests whose builds must not depend on the clock (dates in versions and files).
inline const std::map<std::string, std::string> fixed_date = {{"SOURCE_DATE_EPOCH", "1700000000"}};

class ImgbuildTest : public TempDirTest {
protected:
    ImgbuildTest() = default;
    // Every imgbuild run of the test gets `env` added to its environment.
    explicit ImgbuildTest(std::map<std::string, std::string> env) : m_env(std::move(env)) {}

    // The test's cache: dir/cache.
    std::filesystem::path cache() const { return dir.path() / "cache"; }
    // `args` after --cache-dir cache(), for tests that start imgbuild themselves.
    std::vector<std::string> with_cache(std::vector<std::string> args) const {
        args.insert(args.begin(), {"--cache-dir", cache().string()});
        return args;
    }
    // imgbuild with `args` and the test's cache, run in the test's directory.
    CommandResult imgbuild(std::vector<std::string> args) const {
        return run_imgbuild(with_cache(std::move(args)), dir.path(), m_env);
    }

private:
    std::map<std::string, std::string> m_env;
};

} // namespace imgbuild::test
