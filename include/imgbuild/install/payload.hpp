#pragma once
// The files a package carries, read without installing it: a .deb's data.tar or an rpm's cpio
// payload, whatever their compression.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace imgbuild::install {

struct PayloadEntry {
    std::string path; // without the leading "./" or "/": usr/lib/modules/…, boot/config-…
    bool regular = false;
    std::uint64_t size = 0;
};

// Calls `visit` for each entry of the package's payload, in archive order; `read` returns the entry's
// content (call it before the next entry). `visit` returns false to stop early.
using PayloadVisitor = std::function<bool(const PayloadEntry& entry, const std::function<std::string()>& read)>;
void read_payload(const std::filesystem::path& package, const PayloadVisitor& visit);

} // namespace imgbuild::install
