// The container check's root filesystem: the host's static busybox packed with libarchive as a ustar
// archive on a raw disk, so the guest (GNU tar reads the disk directly) runs a container under
// containerd with no registry and no network.

#include "container.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <cstring>
#include <ctime>
#include <elf.h>

#include <fmt/format.h>

#include "imgbuild/core/files.hpp"
#include "imgbuild/verify/verify.hpp"

namespace imgbuild::verify {
namespace {

namespace fs = std::filesystem;

struct ArchiveWriter {
    archive* handle = archive_write_new();
    ~ArchiveWriter() { archive_write_free(handle); }
    void check(int status, const char* what) {
        if (status != ARCHIVE_OK)
            throw VerifyError("Failed to pack the container's root filesystem ({}): {}", what,
                              archive_error_string(handle) ? archive_error_string(handle) : "libarchive failed");
    }
};

void add_entry(ArchiveWriter& writer, const char* name, mode_t type, unsigned mode, const std::string& data = {},
               const char* link = nullptr) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(entry.get(), name);
    archive_entry_set_filetype(entry.get(), type);
    archive_entry_set_perm(entry.get(), mode);
    archive_entry_set_uid(entry.get(), 0);
    archive_entry_set_gid(entry.get(), 0);
    archive_entry_set_mtime(entry.get(), 0, 0);
    if (link) archive_entry_set_symlink(entry.get(), link);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(data.size()));
    writer.check(archive_write_header(writer.handle, entry.get()), name);
    if (!data.empty() &&
        archive_write_data(writer.handle, data.data(), data.size()) != static_cast<la_ssize_t>(data.size()))
        writer.check(ARCHIVE_FATAL, name);
}

} // namespace

bool is_static_elf(const fs::path& file) {
    std::string reason;
    auto data = try_read_file(file, reason);
    if (!data || data->size() < sizeof(Elf64_Ehdr)) return false;
    Elf64_Ehdr header;
    std::memcpy(&header, data->data(), sizeof header);
    if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64 ||
        header.e_machine != EM_X86_64 || (header.e_type != ET_EXEC && header.e_type != ET_DYN))
        return false;
    if (header.e_phentsize != sizeof(Elf64_Phdr)) return false;
    for (std::size_t i = 0; i < header.e_phnum; ++i) {
        std::size_t at = header.e_phoff + i * sizeof(Elf64_Phdr);
        if (at + sizeof(Elf64_Phdr) > data->size()) return false;
        Elf64_Phdr program;
        std::memcpy(&program, data->data() + at, sizeof program);
        if (program.p_type == PT_INTERP) return false;
    }
    return true;
}

fs::path static_busybox() {
    for (const char* candidate : {"/bin/busybox", "/usr/bin/busybox"})
        if (is_static_elf(candidate)) return candidate;
    return {};
}

void write_rootfs_disk(const fs::path& path) {
    fs::path busybox = static_busybox();
    if (busybox.empty())
        throw VerifyError("Failed to find a static busybox for the containerd check (package busybox-static)");
    std::string binary = read_file(busybox);
    std::string tar;
    {
        ArchiveWriter writer;
        writer.check(archive_write_set_format_ustar(writer.handle), "ustar");
        writer.check(archive_write_set_bytes_per_block(writer.handle, 10240), "block size");
        writer.check(archive_write_open(
                         writer.handle, &tar, nullptr,
                         [](archive*, void* out, const void* buffer, size_t size) -> la_ssize_t {
                             static_cast<std::string*>(out)->append(static_cast<const char*>(buffer), size);
                             return static_cast<la_ssize_t>(size);
                         },
                         nullptr),
                     "open");
        for (const char* dir : {"bin", "dev", "proc", "sys", "tmp", "etc"}) add_entry(writer, dir, AE_IFDIR, 0755);
        add_entry(writer, "bin/busybox", AE_IFREG, 0755, binary);
        add_entry(writer, "bin/sh", AE_IFLNK, 0777, {}, "busybox");
        writer.check(archive_write_close(writer.handle), "close");
    }
    tar.resize((tar.size() / 4096 + 1) * 4096, '\0');
    write_file_atomic(path, tar);
}

} // namespace imgbuild::verify
