#!/usr/bin/env bash
# The README's test command (and CI's, through .ci/run): install what is needed, build, check the
# formatting, and run every test. Tests that cannot run on this machine report themselves skipped.
# LABELS=unit (or a ctest -L regex) runs one tier only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
bash ci/build.sh
bash ci/check-format.sh
ctest --test-dir build --output-on-failure --no-tests=error -j "$(nproc)" ${LABELS:+-L "$LABELS"}
