"""Headless output for GitLab CI: each task's block a collapsible section of the job log.

GitLab folds a job log at `section_start:<unix time>:<name>[collapsed=true]\\r\\e[0K<header>`
and `section_end:<unix time>:<name>\\r\\e[0K` lines, and shows the time between the two as the
section's duration, so the markers carry the task's real start and end. Successful and cancelled
tasks' sections start collapsed; a failed task's section is open, and the summary's failures come
last, outside any section, as in the console.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, TextIO

from ..events import TaskState, TaskStateChanged
from .console import ConsoleReporter

__all__ = ["GitLabReporter", "section_name"]

_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]+")
_CLEAR_LINE = "\r\x1b[0K"


def section_name(task: str) -> str:
    """A section name GitLab accepts (`[a-zA-Z0-9_.-]`): `compile[src/a.c]` -> `compile_src_a.c`."""
    return _UNSAFE.sub("_", task).strip("_") or "task"


class GitLabReporter(ConsoleReporter):
    """The console reporter, with GitLab's collapsible sections around each task's block."""

    def __init__(self, out: TextIO, **options: Any) -> None:
        super().__init__(out, **options)
        self._used: Counter[str] = Counter()
        self._open: str | None = None

    def _unique(self, task: str) -> str:
        # Two tasks may clean up to the same name; GitLab pairs markers by name.
        name = section_name(task)
        self._used[name] += 1
        count = self._used[name]
        return name if count == 1 else f"{name}.{count}"

    def begin_block(self, event: TaskStateChanged) -> None:
        end = event.time
        start = end - (event.duration or 0.0)
        name = self._open = self._unique(event.task)
        options = "" if event.state is TaskState.FAILED else "[collapsed=true]"
        self._write(
            f"section_start:{int(start)}:{name}{options}{_CLEAR_LINE}{self._header(event)}\n"
        )

    def end_block(self, event: TaskStateChanged) -> None:
        if self._open is not None:
            self._write(f"section_end:{int(event.time)}:{self._open}{_CLEAR_LINE}\n")
            self._open = None
