"""The demo's Python callable: "integration tests" that fail on every other run.

The first run finds no marker, leaves one and fails with a real traceback; the re-run finds the
marker, removes it and passes. So the demo shows a failure, its traceback, and the recovery.
"""

from __future__ import annotations

import time
from pathlib import Path

MARKER = Path(".tuibuild/demo-flaky-marker")


def check_checksum(binary: Path) -> int:
    data = binary.read_text().split()
    if not MARKER.exists():
        MARKER.parent.mkdir(parents=True, exist_ok=True)
        MARKER.write_text("the next run passes\n")
        raise AssertionError(
            f"checksum mismatch in {binary}: expected {len(data)} sections, found {len(data) - 1}"
            " (flaky on purpose: the re-run passes)"
        )
    MARKER.unlink()
    return len(data)


def run_checks(binary: str, rounds: int = 3) -> dict[str, int]:
    for n in range(1, rounds + 1):
        print(f"integration round {n}/{rounds}", flush=True)
        time.sleep(0.4)
    sections = check_checksum(Path(binary))
    print(f"all {rounds} rounds passed")
    return {"rounds": rounds, "sections": sections}
