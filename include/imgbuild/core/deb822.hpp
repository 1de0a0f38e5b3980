#pragma once
// deb822 control data (Debian's Release and Packages files, apt's .sources): paragraphs of
// "Field: value" lines separated by blank lines, continuation lines starting with a space or tab.

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imgbuild::deb822 {

// Views into the parsed text: a field's name, and its value from after the colon to the end of its
// last continuation line (leading blanks of the first line removed).
using Paragraph = std::vector<std::pair<std::string_view, std::string_view>>;

// Calls `visit` for each paragraph of `text`; comment lines ('#') are skipped. Fast enough for a
// 60 000-paragraph Packages file: nothing is copied.
void for_each_paragraph(std::string_view text, const std::function<void(const Paragraph&)>& visit);

// The value of `name` (compared without case), trimmed; empty when absent.
std::string_view field(const Paragraph& paragraph, std::string_view name);

// The lines of a multi-line value, each trimmed, empty lines dropped.
std::vector<std::string_view> lines(std::string_view value);
// The whitespace-separated words of a value.
std::vector<std::string_view> words(std::string_view value);

} // namespace imgbuild::deb822
