#!/usr/bin/env bash
# The README's main job: install what is needed, build imgbuild, and run the pipeline on the default
# recipe as far as the pipeline exists (today: validate it, then build it and commit it to the ostree
# repository out/repo; the commit's checksum is printed last). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
bash ci/build.sh imgbuild
recipe=${1:-recipes/debian11-node.yaml}
./build/imgbuild validate "$recipe"
./build/imgbuild commit "$recipe" --repo out/repo
