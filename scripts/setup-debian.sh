#!/usr/bin/env bash
# Installs the Debian packages weft's build, tests, benchmarks and CI need. Packages that are
# already installed are left alone, so on a prepared machine this does nothing (and needs no
# root). Otherwise it runs apt-get as root, or through sudo when available.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(
  cmake ninja-build g++ clang      # toolchain (clang: -Wthread-safety, TSan preset)
  libclang-rt-14-dev               # clang's sanitizer and libFuzzer runtimes (TSan, fuzz preset)
  clang-format clang-tidy          # formatting check, tidy preset
  libgtest-dev libgmock-dev        # unit and stress tests
  relacy-dev                       # model tests (tests/model)
  gdb                              # stack dumps from the test hang watchdog
  doxygen python3                  # API reference check, link checker, benchmark report
  libbenchmark-dev libtbb-dev libboost-dev   # benchmarks and their baselines
)

if ! command -v dpkg >/dev/null 2>&1; then
  echo "setup: not a Debian-based system; install the equivalents of: ${packages[*]}" >&2
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg -s "$package" >/dev/null 2>&1; then
    missing+=("$package")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all required packages are installed"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "setup: missing packages (${missing[*]}) and neither root nor sudo to install them" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update
"${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
