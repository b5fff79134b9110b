#!/usr/bin/env python3
"""Checks the project's internal documentation links.

Two kinds of link are checked:
  - Markdown links `[text](target)` in every tracked .md file whose target is a relative path
    (with an optional `#anchor`): the file must exist, and the anchor must name a heading of the
    target file (GitHub's heading slugs).
  - Mentions of `docs/...md` (with an optional `#anchor`) in C++ sources, CMake files and
    scripts: a design note that moved into docs/ points there, and the essay must exist with
    that heading.

Links to web pages (`http://`, `https://`, `mailto:`) are not fetched. Usage:
  scripts/check-links.py            check the tree, print each broken link, exit 1 if any
  scripts/check-links.py --self-test  also prove the checker finds a broken file and anchor
"""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

MARKDOWN_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
SOURCE_MENTION = re.compile(r"(docs/[A-Za-z0-9_][A-Za-z0-9_./-]*\.md)(#[A-Za-z0-9_-]+)?")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
SOURCE_SUFFIXES = {".hpp", ".cpp", ".h", ".in", ".txt", ".cmake", ".sh", ".py"}


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)          # code spans keep their text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set:
    """Every anchor a Markdown file defines, with GitHub's -1, -2 suffixes for repeats."""
    seen = {}
    result = set()
    in_fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    for explicit in re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", path.read_text(encoding="utf-8")):
        result.add(explicit)
    return result


def tracked_files(root: Path) -> list:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=root, check=True, capture_output=True,
                             text=True).stdout
        return [root / line for line in out.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):
        return [p for p in root.rglob("*") if p.is_file() and "build" not in p.parts]


def check_target(source: Path, line_no: int, target: Path, anchor: str, root: Path,
                 problems: list) -> None:
    where = f"{source.relative_to(root)}:{line_no}"
    if not target.exists():
        problems.append(f"{where}: links to {target.relative_to(root) if target.is_relative_to(root) else target}, "
                        "which does not exist; fix the path or restore the file")
        return
    if anchor and target.suffix == ".md" and anchor not in anchors(target):
        problems.append(f"{where}: links to {target.relative_to(root)}#{anchor}, but that file has "
                        "no such heading; link to an existing heading (GitHub slug)")


def check_markdown(path: Path, root: Path, problems: list) -> None:
    in_fence = False
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        line = re.sub(r"`[^`]*`", "", line)  # links inside code spans are text
        for match in list(MARKDOWN_LINK.finditer(line)) + list(IMAGE_LINK.finditer(line)):
            href = match.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", href):
                continue  # http:, https:, mailto:
            file_part, _, anchor = href.partition("#")
            target = path if not file_part else (path.parent / file_part).resolve()
            check_target(path, line_no, target, anchor, root, problems)


def check_source(path: Path, root: Path, problems: list) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return
    for line_no, line in enumerate(text.splitlines(), start=1):
        for match in SOURCE_MENTION.finditer(line):
            if "YYYY" in match.group(1):
                continue  # a file-name pattern, not a link
            anchor = (match.group(2) or "")[1:]
            check_target(path, line_no, (root / match.group(1)).resolve(), anchor, root, problems)


def check_tree(root: Path) -> list:
    problems = []
    for path in tracked_files(root):
        if not path.is_file():
            continue
        if path.suffix == ".md":
            check_markdown(path, root, problems)
        elif path.suffix in SOURCE_SUFFIXES and path.name != "check-links.py":
            check_source(path, root, problems)
    return problems


def self_test() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        (root / "docs").mkdir()
        (root / "docs" / "a.md").write_text("# Title\n\n## The `x` step (S1)\n\n## Repeat\n\n## Repeat\n")
        (root / "ok.md").write_text(
            "[a](docs/a.md#the-x-step-s1) [b](docs/a.md#repeat-1) [c](https://example.org)\n"
            "```\n[not a link](missing.md)\n```\n")
        (root / "bad.md").write_text("[a](docs/missing.md) [b](docs/a.md#no-such-heading)\n")
        (root / "code.hpp").write_text("// see docs/a.md#title and docs/gone.md\n")
        problems = check_tree(root)
        expected = ["bad.md:1: links to docs/missing.md", "bad.md:1: links to docs/a.md#no-such",
                    "code.hpp:1: links to docs/gone.md"]
        for needle in expected:
            if not any(p.startswith(needle) for p in problems):
                sys.exit(f"check-links self-test: expected a report starting '{needle}', got {problems}")
        if len(problems) != len(expected):
            sys.exit(f"check-links self-test: expected {len(expected)} reports, got {problems}")
    print("check-links: self-test passed")


def main() -> int:
    if "--self-test" in sys.argv[1:]:
        self_test()
    root = Path(__file__).resolve().parent.parent
    problems = check_tree(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"check-links: {len(problems)} broken link(s)")
        return 1
    print("check-links: every internal link and anchor resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
