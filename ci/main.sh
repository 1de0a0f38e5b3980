#!/usr/bin/env bash
# The README's main job: install what is needed, build imgbuild, and run the pipeline on the default
# recipe: validate it, then build it into the output bundle out/ (the ostree repository out/repo and
# the bootable raw and qcow2 disks in out/builds/<version>/) and boot-test the disks under BIOS and UEFI
# (imgbuild test as the last stage; the report is printed, the build's directory last).
# Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
bash ci/build.sh imgbuild
recipe=${1:-recipes/debian12-node.yaml}
./build/imgbuild validate "$recipe"
./build/imgbuild build "$recipe" -o out --test
