// Merging recipe trees from include: chains. Removal matches list items by their text as written, or
// a list of mappings (repos, files, users) by the item's name or path, so a platform team can drop one
// inherited repo or file without copying the rest.

#include "merge.hpp"

#include <algorithm>

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

void append_items(Node& base, std::vector<Node> items, std::vector<Diagnostic>& diagnostics) {
    for (auto& item : items) {
        if (item.tag != MergeTag::remove) {
            base.items.push_back(std::move(item));
            continue;
        }
        auto match = std::find_if(base.items.begin(), base.items.end(), [&](const Node& candidate) {
            const std::string* id = identity(candidate);
            return item.is_scalar() && id && *id == item.text;
        });
        if (match == base.items.end())
            diagnostics.push_back(nothing_to_remove(item));
        else
            base.items.erase(match);
    }
}

} // namespace

void merge_into(Node& base, Node overlay, std::vector<Diagnostic>& diagnostics) {
    if (overlay.tag == MergeTag::replace) {
        overlay.tag = MergeTag::none;
        base = std::move(overlay);
        return;
    }
    if (base.kind == Node::Kind::mapping && overlay.kind == Node::Kind::mapping) {
        for (auto& member : overlay.members) {
            if (member.value.tag == MergeTag::remove) {
                if (!base.erase(member.key)) diagnostics.push_back(nothing_to_remove(member.key, member.value.where));
                continue;
            }
            auto existing = std::find_if(base.members.begin(), base.members.end(),
                                         [&](const Member& m) { return m.key == member.key; });
            if (existing == base.members.end()) {
                base.members.push_back(std::move(member));
            } else {
                existing->key_where = member.key_where;
                merge_into(existing->value, std::move(member.value), diagnostics);
            }
        }
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
