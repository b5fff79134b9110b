#!/usr/bin/env bash
# Install test: builds and installs weft from a source tree, then builds and runs two
# consumers of it:
#   tests/install/         find_package(weft CONFIG) against the installed package,
#                          once for a static and once for a shared library;
#   tests/install/subdir/  add_subdirectory() of the source tree.
#
# Usage: tests/install/run.sh <source-dir> <work-dir>
# <work-dir> is deleted and recreated. CXX and CMAKE_GENERATOR are taken from the environment
# when set; WEFT_INSTALL_TEST_JOBS sets the build parallelism (default 2).

set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 <source-dir> <work-dir>" >&2
  exit 2
fi

source_dir=$(cd "$1" && pwd)
work_dir=$2
jobs=${WEFT_INSTALL_TEST_JOBS:-2}

rm -rf "$work_dir"
mkdir -p "$work_dir"
work_dir=$(cd "$work_dir" && pwd)

step() { printf '\n== install test: %s\n' "$*"; }

for shared in OFF ON; do
  build="$work_dir/weft-shared-$shared"
  prefix="$work_dir/prefix-shared-$shared"
  consumer="$work_dir/consumer-shared-$shared"

  step "build and install weft (BUILD_SHARED_LIBS=$shared)"
  cmake -S "$source_dir" -B "$build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS="$shared" \
    -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_EXAMPLES=OFF -DWEFT_BUILD_BENCHMARKS=OFF \
    -DWEFT_INSTALL=ON \
    -DCMAKE_INSTALL_PREFIX="$prefix"
  cmake --build "$build" -j "$jobs"
  cmake --install "$build"

  if ! find "$prefix" -path '*/include/weft/config.hpp' | grep -q .; then
    echo "install test: the generated weft/config.hpp was not installed under $prefix" >&2
    exit 1
  fi

  step "find_package(weft) consumer (BUILD_SHARED_LIBS=$shared)"
  cmake -S "$source_dir/tests/install" -B "$consumer" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix"
  cmake --build "$consumer" -j "$jobs"
  "$consumer/consumer"
done

step "add_subdirectory(weft) consumer"
cmake -S "$source_dir/tests/install/subdir" -B "$work_dir/subdir" \
  -DCMAKE_BUILD_TYPE=Release \
  -DWEFT_SOURCE_DIR="$source_dir"
cmake --build "$work_dir/subdir" -j "$jobs"
"$work_dir/subdir/consumer"

step "passed: both consumers built and ran"
