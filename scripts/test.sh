#!/usr/bin/env bash
# Builds weft with its tests (release preset) and runs the whole suite: the unit, stress,
# model and compile_fail labels. CTest's summary is the last thing printed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup-debian.sh
cmake --preset release
cmake --build --preset release -j2
ctest --preset release
