#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz preset: clang, ASan + UBSan) and runs api_sequence_fuzz,
# which reads each input as a sequence of API calls on one pool, for a fixed time.
#
# Usage: scripts/fuzz.sh [libFuzzer flags...]
#   WEFT_FUZZ_SECONDS   time budget of the run, in seconds (default 120)
#
# The run starts from a copy of the seed corpus (tests/fuzz/corpus/) in a scratch directory, so
# the inputs it discovers never land in the source tree. A crash, a failed invariant, a leak or
# an input that runs past the per-input timeout stops the run: the script then exits non-zero
# and prints the reproducer, which `build/fuzz/tests/fuzz/api_sequence_fuzz <file>` replays.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${WEFT_FUZZ_SECONDS:-120}
# An input runs in about a millisecond; the per-input timeout only turns a hang into a report.
per_input_timeout_s=20
# One configuration byte and 128 operations of two bytes (max_operations in the target).
max_len=257

bash scripts/setup-debian.sh
cmake --preset fuzz
cmake --build --preset fuzz -j2

fuzzer=build/fuzz/tests/fuzz/api_sequence_fuzz
artifacts="build/fuzz/artifacts/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$artifacts"
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp tests/fuzz/corpus/* "$corpus/"

echo "fuzz: running $fuzzer for ${seconds} s (seed corpus: tests/fuzz/corpus/)"
status=0
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} "$fuzzer" \
  -max_total_time="$seconds" \
  -timeout="$per_input_timeout_s" \
  -max_len="$max_len" \
  -print_final_stats=1 \
  -artifact_prefix="$artifacts/" \
  "$@" "$corpus" || status=$?

if ((status != 0)); then
  echo "fuzz: api_sequence_fuzz failed with exit status $status" >&2
  for reproducer in "$artifacts"/*; do
    if [[ -f $reproducer ]]; then
      echo "fuzz: reproducer: $reproducer (replay: $fuzzer $reproducer)" >&2
    fi
  done
  exit 1
fi
rmdir "$artifacts" 2>/dev/null || true
echo "fuzz: no failure in ${seconds} s"
