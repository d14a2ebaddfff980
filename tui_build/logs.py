"""Task logs on disk: where they live and how to read their ends back.

Every byte a task writes goes to `.tuibuild/logs/<run-id>/<task>.log` as it arrives, so the
memory of tuibuild stays flat whatever a task prints, and frontends (the console's blocks, the
dashboard's scroll-back, `tuibuild log`) read the file back instead of keeping copies.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import quote

_ESCAPE = re.compile(
    r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)"
)


def new_run_id() -> str:
    """A sortable, unique, readable run id: 20261122-024553-1a2b."""
    return time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid() & 0xFFFF:04x}"


def log_file_name(task: str, attempt: int = 1) -> str:
    """A file name for a task's log: `compile[src/a.c]` -> `compile[src%2Fa.c].log`."""
    stem = quote(task, safe="[]=,.-_+@")
    if stem.startswith("."):
        stem = "%2E" + stem[1:]
    return f"{stem}.log" if attempt <= 1 else f"{stem}.{attempt}.log"


def read_tail(path: str | Path, lines: int = 20, max_bytes: int = 256 * 1024) -> list[str]:
    """The last `lines` lines of a log, decoded, without reading the whole file."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return []
    text = data.decode("utf-8", "replace")
    parts = text.splitlines()
    if size > max_bytes and parts:
        parts = parts[1:]  # the first line is probably cut
    return [collapse_carriage_returns(p) for p in parts[-lines:]] if lines > 0 else []


def collapse_carriage_returns(line: str) -> str:
    """What a terminal would show of a line rewritten with `\\r` (progress bars): its last state."""
    if "\r" not in line:
        return line
    segments = [s for s in line.split("\r") if s]
    return segments[-1] if segments else ""


def strip_escapes(text: str) -> str:
    """Drop every ANSI escape sequence (colours too): for logs that must be plain text."""
    return _ESCAPE.sub("", text)
