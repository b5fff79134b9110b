#!/usr/bin/env bash
# Builds weft (release preset) and runs the guided tour example.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup-debian.sh
cmake --preset release
cmake --build --preset release -j2
./build/release/examples/tour
