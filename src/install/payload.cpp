// A package's payload through libarchive: .deb (an ar archive whose data.tar.* member is read as an
// archive of its own) and .rpm (libarchive's rpm filter skips the lead and headers, then the
// compressed cpio is read like any other).

#include "imgbuild/install/payload.hpp"

#include <fmt/format.h>

#include "wrap/archive.hpp"

namespace imgbuild::install {
namespace {

namespace fs = std::filesystem;

// Walks the entries of an open archive; returns false when the visitor stopped.
bool walk(archive* reader, const fs::path& package, const PayloadVisitor& visit) {
    archive_entry* entry = nullptr;
    int result;
    while ((result = archive_read_next_header(reader, &entry)) == ARCHIVE_OK) {
        std::string_view name = archive_entry_pathname(entry);
        while (name.starts_with("./")) name.remove_prefix(2);
        while (name.starts_with('/')) name.remove_prefix(1);
        PayloadEntry item{std::string(name), archive_entry_filetype(entry) == AE_IFREG,
                          static_cast<std::uint64_t>(archive_entry_size(entry))};
        auto read = [&] {
            std::string content;
            char buffer[1 << 16];
            la_ssize_t n;
            while ((n = archive_read_data(reader, buffer, sizeof buffer)) > 0)
                content.append(buffer, static_cast<std::size_t>(n));
            wrap::archive_check(reader, n < 0 ? static_cast<int>(n) : ARCHIVE_OK,
                                fmt::format("read '{}' from '{}'", item.path, package.string()));
            return content;
        };
        if (!visit(item, read)) return false;
    }
    wrap::archive_check(reader, result == ARCHIVE_EOF ? ARCHIVE_OK : result,
                        fmt::format("read the payload of '{}'", package.string()));
    return true;
}

} // namespace

void read_payload(const fs::path& package, const PayloadVisitor& visit) {
    if (package.extension() == ".rpm") {
        wrap::ArchiveReader reader(archive_read_new());
        archive_read_support_filter_all(reader.get());
        archive_read_support_format_cpio(reader.get());
        wrap::archive_check(reader.get(), archive_read_open_filename(reader.get(), package.c_str(), 1 << 16),
                            fmt::format("open '{}'", package.string()));
        walk(reader.get(), package, visit);
        return;
    }
    if (wrap::read_deb_data(package, wrap::DebData::tar,
                            [&](archive* data, archive_entry*) { walk(data, package, visit); }))
        return;
    throw Error("Failed to read '{}': it is neither an rpm nor a Debian package with a data.tar member",
                package.string());
}

} // namespace imgbuild::install
