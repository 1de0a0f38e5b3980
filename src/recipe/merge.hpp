#pragma once
// The merge rules of include: maps merge, lists append, scalars override; !remove drops an inherited
// list item or key, !replace replaces an inherited value instead of merging with it.

#include <vector>

#include "node.hpp"

namespace imgbuild::recipe {

// Merges `overlay` (the later file) into `base` (what the earlier files gave).
void merge_into(Node& base, Node overlay, std::vector<Diagnostic>& diagnostics);

// After all merging: a !remove still in the tree had nothing to remove (reported); !replace tags are dropped.
void finish_merge(Node& root, std::vector<Diagnostic>& diagnostics);

} // namespace imgbuild::recipe
