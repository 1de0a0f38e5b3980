#pragma once
// libarchive for C++: owners for readers and writers, errors turned into exceptions at once.

#include <archive.h>
#include <archive_entry.h>

#include <string_view>

#include "imgbuild/core/error.hpp"
#include "wrap/c_ptr.hpp"

namespace imgbuild::wrap {

using ArchiveReader = CPtr<archive, archive_read_free>;
using ArchiveWriter = CPtr<archive, archive_write_free>;
using ArchiveEntry = CPtr<archive_entry, archive_entry_free>;

// Throws Error "Failed to <what>: <libarchive's reason>" for results worse than a warning.
inline void archive_check(archive* handle, int result, std::string_view what) {
    if (result < ARCHIVE_WARN) {
        const char* reason = archive_error_string(handle);
        throw Error("Failed to {}: {}", what, reason ? reason : "unknown libarchive error");
    }
}

// The current member of `outer` read as an archive of its own (a .deb's data.tar.xz inside the ar
// archive): archive_read_open(inner, &nested, nullptr, read_nested, nullptr).
struct Nested {
    archive* outer;
    char buffer[1 << 16];
};

inline la_ssize_t read_nested(archive*, void* data, const void** block) {
    auto* nested = static_cast<Nested*>(data);
    *block = nested->buffer;
    return archive_read_data(nested->outer, nested->buffer, sizeof nested->buffer);
}

} // namespace imgbuild::wrap
