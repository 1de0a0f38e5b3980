#pragma once
// Where a value was written (file, line, column), and a finding tied to such a place.

#include <compare>
#include <string>
#include <vector>

namespace imgbuild {

// 1-based line and column; 0 means unknown (the file as a whole, or a value from the command line).
struct Location {
    std::string file;
    int line = 0;
    int column = 0;

    bool known() const { return line > 0; }
    // "FILE:LINE:COL", "FILE" when the position is unknown.
    std::string str() const;
    auto operator<=>(const Location&) const = default;
};

// One finding about an input, reported as "FILE:LINE:COL: message".
struct Diagnostic {
    Location where;
    std::string message;

    std::string str() const;
    auto operator<=>(const Diagnostic&) const = default;
};

// Sorts by place and drops exact repeats, so a list of findings reads top to bottom.
void sort_unique(std::vector<Diagnostic>& diagnostics);

} // namespace imgbuild
