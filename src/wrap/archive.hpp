#pragma once
// libarchive for C++: owners for readers and writers, errors turned into exceptions at once.

#include <archive.h>
#include <archive_entry.h>

#include <filesystem>
#include <functional>
#include <string_view>

#include <fmt/format.h>

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

// How read_deb_data opens a .deb's data.tar* member: as the tar archive it is, or as one entry of its
// decompressed bytes (libarchive's raw format).
enum class DebData { tar, raw };

// Reads the Debian package `deb` (an ar archive) member by member. Each member before data.tar* goes to
// `other(outer, member)`, with `outer` positioned at that member's bytes; data.tar* is then opened as an
// archive of its own (any compression) and handed to `data(reader, member)`, and the walk ends there:
// data.tar is the last member dpkg reads. Returns false when the package has no data.tar member.
inline bool read_deb_data(const std::filesystem::path& deb, DebData format,
                          const std::function<void(archive* reader, archive_entry* member)>& data,
                          const std::function<void(archive* outer, archive_entry* member)>& other = {}) {
    ArchiveReader outer(archive_read_new());
    archive_read_support_format_ar(outer.get());
    archive_check(outer.get(), archive_read_open_filename(outer.get(), deb.c_str(), 1 << 16),
                  fmt::format("open '{}'", deb.string()));
    archive_entry* member = nullptr;
    while (archive_read_next_header(outer.get(), &member) == ARCHIVE_OK) {
        if (!std::string_view(archive_entry_pathname(member)).starts_with("data.tar")) {
            if (other) other(outer.get(), member);
            continue;
        }
        Nested nested{outer.get(), {}};
        ArchiveReader reader(archive_read_new());
        archive_read_support_filter_all(reader.get());
        if (format == DebData::tar)
            archive_read_support_format_tar(reader.get());
        else
            archive_read_support_format_raw(reader.get());
        archive_check(reader.get(), archive_read_open(reader.get(), &nested, nullptr, read_nested, nullptr),
                      fmt::format("read the data of '{}'", deb.string()));
        data(reader.get(), member);
        return true;
    }
    return false;
}

} // namespace imgbuild::wrap
