#pragma once
// Where each value of a merged recipe came from: JSON pointer → file:line:col of the value and its key.

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "imgbuild/core/location.hpp"

namespace imgbuild::recipe {

class SourceMap {
public:
    // `spelling`: how a number, boolean or null was written (0644, yes, ~), for messages.
    void add(const nlohmann::json::json_pointer& pointer, Location value, Location key, std::string spelling = {});

    // Where the value at `pointer` was written; for a pointer with no entry (a value the schema
    // expected but the recipe lacks), the closest enclosing value that has one.
    Location value(const nlohmann::json::json_pointer& pointer) const;
    // Where the key naming the value at `pointer` was written (the value's own place for list items).
    Location key(const nlohmann::json::json_pointer& pointer) const;
    // How the scalar at `pointer` was written, when it is not a string; empty otherwise.
    std::string spelling(const nlohmann::json::json_pointer& pointer) const;

private:
    struct Entry {
        Location value;
        Location key;
        std::string spelling;
    };
    const Entry* find_enclosing(nlohmann::json::json_pointer pointer) const;
    std::map<std::string, Entry> m_entries;
};

} // namespace imgbuild::recipe
