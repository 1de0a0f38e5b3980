// A zero-copy deb822 reader (Debian Policy §5.1): the indices imgbuild reads are large enough that
// copying every field of every package would dominate a cold resolve.

#include "imgbuild/core/deb822.hpp"

#include <strings.h>

namespace imgbuild::deb822 {
namespace {

std::string_view trim(std::string_view text) {
    auto start = text.find_first_not_of(" \t\r\n");
    if (start == std::string_view::npos) return {};
    auto end = text.find_last_not_of(" \t\r\n");
    return text.substr(start, end - start + 1);
}

} // namespace

void for_each_paragraph(std::string_view text, const std::function<void(const Paragraph&)>& visit) {
    Paragraph paragraph;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        bool blank = line.find_first_not_of(" \t") == std::string_view::npos;
        if (blank) {
            if (!paragraph.empty()) visit(paragraph);
            paragraph.clear();
        } else if (line.front() == '#') {
            // comment
        } else if ((line.front() == ' ' || line.front() == '\t') && !paragraph.empty()) {
            // A continuation: extend the last value's view to the end of this line.
            auto& value = paragraph.back().second;
            const char* start = value.empty() ? line.data() : value.data();
            value = std::string_view(start, static_cast<std::size_t>(line.data() + line.size() - start));
        } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
            std::string_view value = line.substr(colon + 1);
            auto first = value.find_first_not_of(" \t");
            value = first == std::string_view::npos ? value.substr(value.size()) : value.substr(first);
            paragraph.emplace_back(line.substr(0, colon), value);
        }
        if (end == text.size()) break;
        pos = end + 1;
    }
    if (!paragraph.empty()) visit(paragraph);
}

std::string_view field(const Paragraph& paragraph, std::string_view name) {
    for (const auto& [key, value] : paragraph)
        if (key.size() == name.size() && strncasecmp(key.data(), name.data(), name.size()) == 0) return trim(value);
    return {};
}

std::vector<std::string_view> lines(std::string_view value) {
    std::vector<std::string_view> result;
    std::size_t pos = 0;
    while (pos < value.size()) {
        std::size_t end = value.find('\n', pos);
        if (end == std::string_view::npos) end = value.size();
        if (auto line = trim(value.substr(pos, end - pos)); !line.empty()) result.push_back(line);
        pos = end + 1;
    }
    return result;
}

std::vector<std::string_view> words(std::string_view value) {
    std::vector<std::string_view> result;
    std::size_t pos = 0;
    while (true) {
        pos = value.find_first_not_of(" \t\r\n", pos);
        if (pos == std::string_view::npos) break;
        std::size_t end = value.find_first_of(" \t\r\n", pos);
        result.push_back(value.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos));
        if (end == std::string_view::npos) break;
        pos = end;
    }
    return result;
}

} // namespace imgbuild::deb822
