#!/usr/bin/env bash
# Configures and builds imgbuild into build/ (Release with debug info; -Werror when CI=true).
# Shared by ci/main.sh and ci/test.sh; arguments are build targets (default: everything).
set -euo pipefail
cd "$(dirname "$0")/.."
werror=OFF
[[ ${CI:-} == true ]] && werror=ON
cmake -S . -B build -G Ninja -DIMGBUILD_WERROR="$werror" ${IMGBUILD_CMAKE_ARGS:-}
cmake --build build ${1:+--target "$@"}
