#!/usr/bin/env bash
# Checks that every C++ file in the repository is formatted per .clang-format.
#
# Usage: scripts/check-format.sh          report files that need formatting (exit 1 if any)
#        scripts/check-format.sh --fix    reformat them in place
# Files are those git knows about or would add (tracked plus untracked, minus ignored).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

clang_format=${CLANG_FORMAT:-clang-format}

mapfile -d '' files < <(git ls-files -z --cached --others --exclude-standard -- \
  '*.cpp' '*.hpp' '*.h' '*.cc' | sort -z -u)
# Skip paths listed but deleted from the working tree.
existing=()
for file in "${files[@]}"; do
  [[ -f "$file" ]] && existing+=("$file")
done

if [[ ${#existing[@]} -eq 0 ]]; then
  echo "check-format: no C++ files"
  exit 0
fi

if [[ ${1:-} == "--fix" ]]; then
  "$clang_format" -i "${existing[@]}"
  echo "check-format: formatted ${#existing[@]} files"
  exit 0
fi

"$clang_format" --version
if "$clang_format" --dry-run --Werror "${existing[@]}"; then
  echo "check-format: ${#existing[@]} files are formatted"
else
  echo "check-format: run scripts/check-format.sh --fix (or clang-format -i) on the files above" >&2
  exit 1
fi
