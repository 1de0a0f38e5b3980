// A bounded fuzz test of the recipe reader, run with every test build: the shipped recipes and the
// bad-recipe corpus, mutated from a fixed seed (byte flips and insertions, repeated lines, deep
// nesting, anchors and aliases, YAML and imgbuild syntax spliced in), each loaded in-process. A recipe
// either loads or is refused with a RecipeError (exit 2): never another exception (exit 1, "internal
// error"), never a crash, and each within a time bound. A sample also runs through `imgbuild validate`.
// IMGBUILD_FUZZ_ITERATIONS and IMGBUILD_FUZZ_SEED run it longer or differently; a failing input is
// written beside the test binary so it can be replayed with `imgbuild validate`.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/recipe/recipe.hpp"
#include "support/command.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::recipe {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
    std::ifstream stream(path, std::ios::binary);
    std::ostringstream text;
    text << stream.rdbuf();
    return text.str();
}

// The seeds: every YAML file of the shipped recipes and of the bad-recipe corpus.
std::vector<std::string> seeds() {
    std::vector<std::string> texts;
    fs::path source = IMGBUILD_SOURCE_DIR;
    std::vector<fs::path> files;
    for (const char* dir : {"recipes", "tests/data/bad-recipes"})
        for (const auto& entry : fs::recursive_directory_iterator(source / dir))
            if (entry.is_regular_file() && entry.path().extension() == ".yaml") files.push_back(entry.path());
    std::sort(files.begin(), files.end()); // the same order everywhere, so a seed means the same inputs
    for (const auto& file : files) texts.push_back(slurp(file));
    return texts;
}

std::size_t env_number(const char* name, std::size_t fallback) {
    const char* value = std::getenv(name);
    return value && *value ? std::strtoull(value, nullptr, 10) : fallback;
}

class Mutator {
public:
    Mutator(std::vector<std::string> seeds, std::uint64_t seed) : m_seeds(std::move(seeds)), m_random(seed) {}

    std::string next() {
        std::string text = m_seeds[below(m_seeds.size())];
        std::size_t count = 1 + below(4);
        for (std::size_t i = 0; i < count; ++i) mutate(text);
        return text;
    }

private:
    std::size_t below(std::size_t n) {
        return n == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, n - 1)(m_random);
    }

    // Where a line starts, chosen at random (0 for an empty text).
    std::size_t line_start(const std::string& text) {
        std::size_t at = below(text.size() + 1);
        auto newline = text.rfind('\n', at == 0 ? 0 : at - 1);
        return at == 0 || newline == std::string::npos ? 0 : newline + 1;
    }

    void mutate(std::string& text) {
        static const std::vector<std::string> tokens = {
            "&a ",
            "*a",
            "[",
            "]",
            "{",
            "}",
            ": ",
            "- ",
            "\n",
            "\t",
            "'",
            "\"",
            "${x}",
            "${",
            "$${",
            "!remove ",
            "!replace ",
            "<<: ",
            "---\n",
            "\"\\0\"",
            "\xff",
            "\xc3",
            "~",
            "99999999999999999999999",
            "..",
            "latest",
            "{date}",
            "{n}",
            "? ",
            "!!str ",
            "!!binary ",
            "&b [*a, *a, *a, *a]",
            "include: x.yaml\n",
            "#",
            "|\n  ",
            ">-\n  ",
            "\"\\n\"",
            "'\\''",
            "\\",
            "%",
            "/",
            "//",
            "\r\n",
            "\"\\x1b\"",
            "\"\\u00e9\"",
            "root=x",
        };
        switch (below(9)) {
        case 0: // flip a byte
            if (!text.empty()) text[below(text.size())] = static_cast<char>(below(256));
            break;
        case 1: // insert a token
            text.insert(below(text.size() + 1), tokens[below(tokens.size())]);
            break;
        case 2: { // repeat a line, up to a thousand times
            std::size_t start = line_start(text);
            std::size_t end = text.find('\n', start);
            std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start + 1);
            if (!line.ends_with('\n')) line += '\n';
            std::size_t times = below(4) == 0 ? below(1000) : 1;
            std::string repeated;
            for (std::size_t i = 0; i < times; ++i) repeated += line;
            text.insert(start, repeated);
            break;
        }
        case 3: { // nest deeply
            std::size_t depth = below(200);
            text.insert(below(text.size() + 1), std::string(depth, '[') + "x" + std::string(depth, ']'));
            break;
        }
        case 4: { // an anchor on one value, aliases to it elsewhere
            std::size_t colon = text.find(": ", below(text.size() + 1));
            if (colon == std::string::npos) break;
            text.insert(colon + 2, "&a ");
            std::size_t times = 1 + below(20);
            for (std::size_t i = 0; i < times; ++i) text += fmt::format("k{}: [*a, *a, *a, *a]\n", below(1000));
            break;
        }
        case 5: { // drop a range
            if (text.empty()) break;
            std::size_t start = below(text.size());
            text.erase(start, below(64));
            break;
        }
        case 6: { // a line of another seed
            const std::string& other = m_seeds[below(m_seeds.size())];
            std::size_t start = line_start(other);
            std::size_t end = other.find('\n', start);
            text.insert(line_start(text), other.substr(start, end == std::string::npos ? end : end - start) + "\n");
            break;
        }
        case 7: { // indent or dedent a line
            std::size_t start = line_start(text);
            if (below(2) == 0)
                text.insert(start, std::string(1 + below(4), ' '));
            else if (start < text.size() && text[start] == ' ')
                text.erase(start, 1);
            break;
        }
        case 8: // a long value
            text.insert(below(text.size() + 1), std::string(below(70'000), below(2) ? 'a' : '9'));
            break;
        }
    }

    std::vector<std::string> m_seeds;
    std::mt19937_64 m_random;
};

// A directory laid out like the repository's recipes/, so includes of the shipped profiles resolve.
class FuzzTest : public test::TempDirTest {
protected:
    void SetUp() override {
        fs::path source = IMGBUILD_SOURCE_DIR;
        fs::create_directories(dir.path() / "recipes");
        for (const char* name : {"recipes/profiles", "recipes/overlays", "kernel-config"})
            fs::create_directory_symlink(source / name, dir.path() / name);
        dir.write("apt/sources.list", "deb http://mirror.invalid/debian bookworm main\n"
                                      "deb http://mirror.invalid/debian-security bookworm-security main\n");
        log::setup(log::Level::off, log::Format::text); // the outside-tree warnings of mutated paths
    }

    fs::path recipe() const { return dir.path() / "recipes" / "fuzz.yaml"; }

    // Saves an input that failed, for `imgbuild validate`.
    std::string keep(const std::string& text, std::size_t iteration) const {
        fs::path kept = fs::current_path() / fmt::format("recipe-fuzz-failure-{}.yaml", iteration);
        std::ofstream(kept, std::ios::binary) << text;
        return kept.string();
    }
};

TEST_F(FuzzTest, MutatedRecipesLoadOrAreRefusedWithinBounds) {
    const std::size_t iterations = env_number("IMGBUILD_FUZZ_ITERATIONS", 1500);
    const std::uint64_t seed = env_number("IMGBUILD_FUZZ_SEED", 20240615);
    Mutator mutator(seeds(), seed);
    LoadOptions options{{}, dir.path() / "apt"};
    std::size_t loaded = 0, refused = 0;
    double slowest = 0;
    auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < iterations; ++i) {
        std::string text = mutator.next();
        std::ofstream(recipe(), std::ios::binary | std::ios::trunc) << text;
        auto begin = std::chrono::steady_clock::now();
        try {
            load(recipe(), options);
            ++loaded;
        } catch (const RecipeError& e) {
            ++refused;
            for (const auto& d : e.diagnostics())
                if (d.message.empty()) ADD_FAILURE() << "an empty diagnostic for " << keep(text, i);
        } catch (const std::exception& e) {
            ADD_FAILURE() << "iteration " << i << " threw " << e.what() << " (not a RecipeError) for " << keep(text, i);
        }
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
        slowest = std::max(slowest, seconds);
        EXPECT_LT(seconds, 5.0) << "iteration " << i << " took " << seconds << " s: " << keep(text, i);
    }
    double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::cout << fmt::format("{} mutated recipes (seed {}): {} loaded, {} refused, {:.1f} s in all, slowest {:.3f} s, "
                             "max RSS {} MiB\n",
                             iterations, seed, loaded, refused, total, slowest, usage.ru_maxrss / 1024);
    EXPECT_EQ(loaded + refused, iterations);
    EXPECT_GT(refused, 0u);
    EXPECT_LT(usage.ru_maxrss, 1024 * 1024) << "KiB: memory is bounded";
}

// The same through the command line: exit 0 or 2, and never "internal error".
TEST_F(FuzzTest, MutatedRecipesExitZeroOrTwoFromTheCommandLine) {
    Mutator mutator(seeds(), env_number("IMGBUILD_FUZZ_SEED", 20240615) + 1);
    for (std::size_t i = 0; i < 40; ++i) {
        std::string text = mutator.next();
        std::ofstream(recipe(), std::ios::binary | std::ios::trunc) << text;
        auto result = test::run_imgbuild({"validate", recipe().string()}, dir.path(),
                                         {{"IMGBUILD_APT_DIR", (dir.path() / "apt").string()}});
        EXPECT_TRUE(result.exit_code == 0 || result.exit_code == 2)
            << "exit " << result.exit_code << ": " << result.err << " for " << keep(text, i);
        EXPECT_EQ(result.err.find("internal error"), std::string::npos) << result.err << " for " << keep(text, i);
    }
}

} // namespace
} // namespace imgbuild::recipe
