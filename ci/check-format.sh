#!/usr/bin/env bash
# Fails when a C++ file differs from .clang-format's style; `ci/check-format.sh --fix` rewrites them.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp' '*.cpp.in' 2>/dev/null || find src include tests -name '*.[ch]pp')
if [[ ${1:-} == --fix ]]; then
  clang-format -i "${files[@]}"
else
  clang-format --dry-run --Werror "${files[@]}"
fi
