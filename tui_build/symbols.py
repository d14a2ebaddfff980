"""How each task state looks in text: one symbol and one colour name, shared by every frontend.

A symbol per state makes every screen and log readable without colour (NO_COLOR, a screen reader,
a copy pasted into an issue); the colour names are Rich's and map onto plain ANSI for the console.
"""

from __future__ import annotations

from .events import TaskState

SYMBOL: dict[TaskState, str] = {
    TaskState.PENDING: "·",
    TaskState.READY: "○",
    TaskState.RUNNING: "▶",
    TaskState.SUCCEEDED: "✓",
    TaskState.FAILED: "✗",
    TaskState.CANCELLED: "⊘",
    TaskState.UP_TO_DATE: "≡",
    TaskState.BLOCKED: "⊗",
}

COLOR: dict[TaskState, str] = {
    TaskState.PENDING: "bright_black",
    TaskState.READY: "cyan",
    TaskState.RUNNING: "yellow",
    TaskState.SUCCEEDED: "green",
    TaskState.FAILED: "red",
    TaskState.CANCELLED: "magenta",
    TaskState.UP_TO_DATE: "blue",
    TaskState.BLOCKED: "bright_red",
}


def format_duration(seconds: float | None) -> str:
    """Short and stable: 0.42s, 12.3s, 3m05s, 1h02m."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_bytes(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit in ("B", "K") else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}G"
