#!/usr/bin/env bash
# CTest fixture (default_bundle): builds the default recipe into one output bundle that the e2e bundle
# checks and every boot test share, instead of each building it. Run again, it reuses the build.
# usage: default-bundle.sh IMGBUILD SOURCE_DIR CACHE_DIR OUTDIR
# Exit 77 (CTest's skip code here) when the machine cannot build it, saying why.
set -euo pipefail
imgbuild=$1 source=$2 cache=$3 out=$4
if [[ $(id -u) -ne 0 ]]; then echo "skipped: building an image needs root"; exit 77; fi
if ! grep -Eqs '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*; then
  echo "skipped: the host's apt sources name no Debian archive"; exit 77
fi
"$imgbuild" --cache-dir "$cache" build "$source/recipes/debian12-node.yaml" -o "$out"
