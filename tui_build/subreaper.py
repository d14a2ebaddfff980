"""Becoming a child subreaper (Linux), in a module light enough for the UI's process to import.

Orphaned descendants (a task's daemon that double-forked, the tasks of an engine process that
died) are then re-parented to this process instead of init, where they can be found and killed.
"""

from __future__ import annotations

import sys

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process (Linux); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False
