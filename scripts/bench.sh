#!/usr/bin/env bash
# Builds the benchmarks (bench preset) and runs them through bench/run.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup-debian.sh
cmake --preset bench
cmake --build --preset bench -j2
if [[ -f bench/run.sh ]]; then
  bash bench/run.sh "$@"
else
  echo "bench: built build/bench; bench/run.sh does not exist yet, so nothing was run" >&2
fi
