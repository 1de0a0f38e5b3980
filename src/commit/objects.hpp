#pragma once
// What tree.cpp and objects.cpp share of a repository's objects: the extended attributes as ostree
// stores them, where a bare repository keeps an object, the check of a tree's objects against their
// names, and the thread pool the checksums run on.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tree.hpp"
#include "wrap/glib.hpp"

namespace imgbuild::commit {

// The extended attributes of `path` as ostree stores them: a(ayay), names with their NUL, sorted.
wrap::GVariantPtr xattrs_of(const std::filesystem::path& path);

// Where a bare repository keeps an object: objects/XX/YYYY.KIND for the checksum XXYYYY.
std::string object_path(const std::string& checksum, std::string_view kind = "file");

std::string repo_path_of(OstreeRepo* repo);

// True when the bare repository's content object `checksum` is what its name says.
bool object_intact(OstreeRepo* repo, const std::string& checksum);

// The objects of the tree (`tree`, `meta`) at `path`: metadata read and checked as the walk goes, the
// content objects checked afterwards in parallel unless `metadata_only`.
void check_tree(OstreeRepo* repo, const std::string& tree, const std::string& meta, bool metadata_only,
                ObjectCheck& check);

// Runs `task(i)` for i in [0, count) on `threads` threads; the first exception is rethrown.
template <class Task>
void parallel_for(std::size_t count, unsigned threads, Task&& task) {
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr first_error;
    std::mutex error_mutex;
    auto work = [&] {
        for (std::size_t at; !failed && (at = next++) < count;) {
            try {
                task(at);
            } catch (...) {
                std::lock_guard lock(error_mutex);
                if (!first_error) first_error = std::current_exception();
                failed = true;
            }
        }
    };
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads && i < count; ++i) pool.emplace_back(work);
    work();
    for (auto& thread : pool) thread.join();
    if (first_error) std::rethrow_exception(first_error);
}

inline unsigned all_cores() { return std::max(1u, std::thread::hardware_concurrency()); }

} // namespace imgbuild::commit
