"""Fail when a translation misses a chapter of the English guide, or has one English lacks.

Run before rendering, so a half-translated guide never ships. Problems are printed as
`path:line: error: message`, which tuibuild turns into annotations in GitHub Actions.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(reference: str = "en") -> int:
    content = Path("content")
    expected = {p.name for p in (content / reference).glob("*.md")}
    problems = 0
    for folder in sorted(p for p in content.iterdir() if p.is_dir() and p.name != reference):
        found = {p.name for p in folder.glob("*.md")}
        for name in sorted(expected - found):
            print(f"{folder / name}:1: error: chapter missing (see {content / reference / name})")
            problems += 1
        for name in sorted(found - expected):
            print(f"{folder / name}:1: error: chapter not in the {reference} guide")
            problems += 1
    print(f"{len(expected)} chapter(s), {problems} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
