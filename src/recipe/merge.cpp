// Merging recipe trees from include: chains. Removal matches list items by their text as written, or
// a list of mappings (repos, files, users) by the item's name or path, so a platform team can drop one
// inherited repo or file without copying the rest.

#include "merge.hpp"

#include <algorithm>
#include <deque>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

namespace imgbuild::recipe {
namespace {

// The identity of a list item for !remove: a scalar's text, a mapping's name (repos, users, groups)
// or path (files).
const std::string* identity(const Node& item) {
    if (item.is_scalar()) return &item.text;
    if (item.kind == Node::Kind::mapping) {
        for (const char* key : {"name", "path"})
            if (const Node* value = item.find(key); value && value->is_scalar()) return &value->text;
    }
    return nullptr;
}

std::string describe(const Node& node) {
    return node.is_scalar() ? "'" + node.text + "'" : std::string(kind_name(node.kind));
}

Diagnostic nothing_to_remove(const Node& item) {
    return {item.where,
            fmt::format("!remove {}: no included file adds this item, so there is nothing to remove", describe(item))};
}

Diagnostic nothing_to_remove(const std::string& key, const Location& where) {
    return {where, fmt::format("!remove: no included file sets '{}', so there is nothing to remove", key)};
}

// Drops the elements whose flag is set, keeping the others' order.
template <class T>
void erase_marked(std::vector<T>& elements, const std::vector<bool>& removed) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < elements.size(); ++i)
        if (!removed[i]) {
            if (kept != i) elements[kept] = std::move(elements[i]);
            ++kept;
        }
    elements.resize(kept);
}

void append_items(Node& base, std::vector<Node> items, std::vector<Diagnostic>& diagnostics) {
    // The items each identity names, oldest first: a removal takes the first, as a linear search would,
    // without making a list of n items with n removals cost n².
    std::unordered_map<std::string, std::deque<std::size_t>> by_identity;
    for (std::size_t i = 0; i < base.items.size(); ++i)
        if (const std::string* id = identity(base.items[i])) by_identity[*id].push_back(i);
    std::vector<bool> removed(base.items.size(), false);
    for (auto& item : items) {
        if (item.tag != MergeTag::remove) {
            if (const std::string* id = identity(item)) by_identity[*id].push_back(base.items.size());
            base.items.push_back(std::move(item));
            removed.push_back(false);
            continue;
        }
        auto match = item.is_scalar() ? by_identity.find(item.text) : by_identity.end();
        if (match == by_identity.end() || match->second.empty()) {
            diagnostics.push_back(nothing_to_remove(item));
            continue;
        }
        removed[match->second.front()] = true;
        match->second.pop_front();
    }
    erase_marked(base.items, removed);
}

} // namespace

void merge_into(Node& base, Node overlay, std::vector<Diagnostic>& diagnostics) {
    if (overlay.tag == MergeTag::replace) {
        overlay.tag = MergeTag::none;
        base = std::move(overlay);
        return;
    }
    if (base.kind == Node::Kind::mapping && overlay.kind == Node::Kind::mapping) {
        // Keys by position: merging n keys into n keys stays linear. A mapping has each key once (the
        // reader refuses duplicates), so a key the overlay removes is not added back by it.
        // The views point into base.members' keys: reserved first, so no push_back moves them.
        base.members.reserve(base.members.size() + overlay.members.size());
        std::unordered_map<std::string_view, std::size_t> position;
        position.reserve(base.members.capacity());
        for (std::size_t i = 0; i < base.members.size(); ++i) position.emplace(base.members[i].key, i);
        std::vector<bool> removed(base.members.size(), false);
        for (auto& member : overlay.members) {
            auto existing = position.find(member.key);
            bool present = existing != position.end() && !removed[existing->second];
            if (member.value.tag == MergeTag::remove) {
                if (!present)
                    diagnostics.push_back(nothing_to_remove(member.key, member.value.where));
                else
                    removed[existing->second] = true;
                continue;
            }
            if (present) {
                Member& target = base.members[existing->second];
                target.key_where = member.key_where;
                merge_into(target.value, std::move(member.value), diagnostics);
            } else {
                base.members.push_back(std::move(member));
                removed.push_back(false);
                position[base.members.back().key] = base.members.size() - 1;
            }
        }
        erase_marked(base.members, removed);
        base.where = overlay.where;
        return;
    }
    if (base.kind == Node::Kind::sequence && overlay.kind == Node::Kind::sequence) {
        append_items(base, std::move(overlay.items), diagnostics);
        base.where = overlay.where;
        return;
    }
    // A scalar overrides; so does a value of another kind (the schema then says what is expected).
    base = std::move(overlay);
}

void finish_merge(Node& root, std::vector<Diagnostic>& diagnostics) {
    root.tag = MergeTag::none;
    if (root.kind == Node::Kind::sequence) {
        std::erase_if(root.items, [&](const Node& item) {
            if (item.tag == MergeTag::remove) diagnostics.push_back(nothing_to_remove(item));
            return item.tag == MergeTag::remove;
        });
        for (auto& item : root.items) finish_merge(item, diagnostics);
    } else if (root.kind == Node::Kind::mapping) {
        std::erase_if(root.members, [&](const Member& member) {
            if (member.value.tag == MergeTag::remove)
                diagnostics.push_back(nothing_to_remove(member.key, member.value.where));
            return member.value.tag == MergeTag::remove;
        });
        for (auto& member : root.members) finish_merge(member.value, diagnostics);
    }
}

} // namespace imgbuild::recipe
