#!/usr/bin/env bash
# Documentation checks (CI step `docs`):
#   1. Doxygen over the public headers (docs/Doxyfile): an undocumented public symbol or a
#      malformed doc comment fails the run (STYLE.md §2.7). The HTML lands in build/docs/html.
#   2. scripts/check-links.py: every relative Markdown link and every mention of an essay in
#      docs/ from the sources resolves, anchors included (STYLE.md §2.6). Its self-test runs first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v doxygen >/dev/null 2>&1; then
  echo "check-docs: doxygen is not installed; run: bash scripts/setup-debian.sh" >&2
  exit 1
fi
mkdir -p build
doxygen docs/Doxyfile
echo "check-docs: doxygen found every public symbol documented"
python3 scripts/check-links.py --self-test
