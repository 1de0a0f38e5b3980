// Reading recipe files with a bound on what they cost: the kind of file is checked before it is read
// (so /dev/zero, a FIFO or <(yes) is refused at once instead of filling memory or blocking), at most
// limits::file_bytes are read, and the text is checked for UTF-8 before YAML sees it.

#include "input.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/size.hpp"
#include "limits.hpp"

namespace imgbuild::recipe {
namespace {

std::string_view kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISFIFO(mode)) return "a FIFO (a pipe)";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

std::string not_regular(mode_t mode) {
    return S_ISDIR(mode) ? "it is a directory"
                         : fmt::format("it is {}, not a regular file (a recipe file must be one)", kind_of(mode));
}

std::string too_large(std::uint64_t size) {
    return fmt::format("it is {} bytes, more than the {} a recipe file may have", size,
                       format_size(limits::file_bytes));
}

// The number of bytes of the UTF-8 character starting at `text[at]`, or 0 when it is not one.
std::size_t utf8_length(std::string_view text, std::size_t at) {
    auto byte = [&](std::size_t i) { return i < text.size() ? static_cast<unsigned char>(text[i]) : 0u; };
    unsigned lead = byte(at);
    std::size_t length = 0;
    unsigned low = 0x80, high = 0xbf; // the range of the second byte
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        if (lead == 0xe0) low = 0xa0;  // no overlong forms
        if (lead == 0xed) high = 0x9f; // no UTF-16 surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        if (lead == 0xf0) low = 0x90;  // no overlong forms
        if (lead == 0xf4) high = 0x8f; // nothing beyond U+10FFFF
    } else {
        return 0;
    }
    if (byte(at + 1) < low || byte(at + 1) > high) return 0;
    for (std::size_t i = 2; i < length; ++i)
        if (byte(at + i) < 0x80 || byte(at + i) > 0xbf) return 0;
    return length;
}

} // namespace

std::optional<std::string> read_recipe_file(const std::filesystem::path& path, std::string& reason) {
    // The kind first: opening a FIFO for reading would wait for a writer.
    struct stat status {};
    if (::stat(path.c_str(), &status) != 0) {
        reason = errno_text(errno);
        return std::nullopt;
    }
    if (!S_ISREG(status.st_mode)) {
        reason = not_regular(status.st_mode);
        return std::nullopt;
    }
    if (static_cast<std::uint64_t>(status.st_size) > limits::file_bytes) {
        reason = too_large(static_cast<std::uint64_t>(status.st_size));
        return std::nullopt;
    }
    // O_NONBLOCK: should the path have become a FIFO since, open() does not wait for a writer.
    Fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!file) {
        reason = errno_text(errno);
        return std::nullopt;
    }
    if (::fstat(file.get(), &status) != 0 || !S_ISREG(status.st_mode)) {
        reason = not_regular(status.st_mode);
        return std::nullopt;
    }
    // At most one byte more than the limit: a file that grows while it is read is still bounded.
    std::string text(limits::file_bytes + 1, '\0');
    std::size_t size = 0;
    while (size < text.size()) {
        ssize_t n = ::read(file.get(), text.data() + size, text.size() - size);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            reason = errno_text(errno);
            return std::nullopt;
        }
        if (n == 0) break;
        size += static_cast<std::size_t>(n);
    }
    if (size > limits::file_bytes) {
        reason = too_large(size);
        return std::nullopt;
    }
    text.resize(size);
    text.shrink_to_fit();
    return text;
}

std::optional<Diagnostic> check_text(std::string_view text, const std::string& file) {
    int line = 1, column = 1;
    for (std::size_t at = 0; at < text.size();) {
        auto byte = static_cast<unsigned char>(text[at]);
        Location where{file, line, column};
        if (byte == '\n') {
            ++line, column = 1, ++at;
            continue;
        }
        if (byte == 0)
            return Diagnostic{where, "the file holds a NUL byte here; a recipe file is text (write \"\\0\" in a "
                                     "double-quoted string for a NUL, which no value may hold either)"};
        if ((byte < 0x20 && byte != '\t' && byte != '\r') || byte == 0x7f)
            return Diagnostic{where, fmt::format("the file holds the control character 0x{:02x} here; YAML allows "
                                                 "only printable characters (write it as an escape in a "
                                                 "double-quoted string, e.g. \"\\x{:02x}\")",
                                                 byte, byte)};
        std::size_t length = byte < 0x80 ? 1 : utf8_length(text, at);
        if (length == 0)
            return Diagnostic{where, fmt::format("the file is not UTF-8 text: the byte 0x{:02x} here is not part of a "
                                                 "UTF-8 character (save the file as UTF-8)",
                                                 byte)};
        at += length;
        column += static_cast<int>(length);
    }
    return std::nullopt;
}

} // namespace imgbuild::recipe
