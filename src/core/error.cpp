// Error messages with context, and locations printed the way compilers and editors expect them.

#include "imgbuild/core/error.hpp"

#include <algorithm>
#include <cstring>

namespace imgbuild {

std::string Location::str() const {
    if (line <= 0) return file;
    if (column <= 0) return fmt::format("{}:{}", file, line);
    return fmt::format("{}:{}:{}", file, line, column);
}

std::string Diagnostic::str() const {
    return where.file.empty() ? message : fmt::format("{}: {}", where.str(), message);
}

void sort_unique(std::vector<Diagnostic>& diagnostics) {
    std::stable_sort(diagnostics.begin(), diagnostics.end(),
                     [](const Diagnostic& a, const Diagnostic& b) { return a.where < b.where; });
    diagnostics.erase(std::unique(diagnostics.begin(), diagnostics.end()), diagnostics.end());
}

void Error::add_context(std::string context) {
    m_what += "\n  " + context;
    m_context.push_back(std::move(context));
}

std::string errno_text(int errnum) { return std::strerror(errnum); }

static std::string summarize(const std::vector<Diagnostic>& diagnostics) {
    if (diagnostics.size() == 1) return diagnostics.front().str();
    return fmt::format("{} errors in the recipe; the first: {}", diagnostics.size(),
                       diagnostics.empty() ? std::string{} : diagnostics.front().str());
}

RecipeError::RecipeError(std::vector<Diagnostic> diagnostics)
    : Error(summarize(diagnostics)), m_diagnostics(std::move(diagnostics)) {}

} // namespace imgbuild
