#pragma once
// The C-library owner template (include/imgbuild/core/c_ptr.hpp) under wrap's names, so wrap's aliases
// and their users write `wrap::CPtr<…>` and `wrap::File`.

#include "imgbuild/core/c_ptr.hpp"

namespace imgbuild::wrap {

using imgbuild::CPtr;
using imgbuild::Deleter;
using File = CFile;

} // namespace imgbuild::wrap
