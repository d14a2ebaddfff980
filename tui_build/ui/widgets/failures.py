"""One failed task, explained: why it failed, its last lines with errors marked, its traceback.

The "why" is the engine's :class:`Failure`: an exit status, a signal, a timeout, a program that
does not exist, a worker that died, or a Python exception whose frames are rendered with Rich
(with the code around each line, read from the file when it is still there).
"""

from __future__ import annotations

import re
import signal as signals

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widgets import Static

from ...events import Failure, FailureKind, TaskRecord
from ...logs import read_tail

TAIL_LINES = 15
ERROR_LINE = re.compile(
    r"(^\S+?:\d+(?::\d+)?:\s*(?:fatal )?error\b)"  # path:line[:col]: error
    r"|(\berror\b[:\]])|(^Traceback)|(^\w*(?:Error|Exception)\b:)",
    re.IGNORECASE,
)
WARNING_LINE = re.compile(r"(^\S+?:\d+(?::\d+)?:\s*warning\b)|(\bwarning\b:)", re.IGNORECASE)
_KIND_WORDS = {
    FailureKind.EXIT: "exit status",
    FailureKind.SIGNAL: "killed by a signal",
    FailureKind.TIMEOUT: "timed out",
    FailureKind.NOT_FOUND: "command not found",
    FailureKind.START: "could not start",
    FailureKind.EXCEPTION: "Python exception",
    FailureKind.WORKER_DIED: "worker process died",
    FailureKind.ERROR: "tuibuild error",
}


def why_text(failure: Failure | None) -> Text:
    """The kind of failure and its details, on one line."""
    if failure is None:
        return Text("failed", style="red")
    text = Text(f"[{_KIND_WORDS.get(failure.kind, str(failure.kind))}] ", style="bold red")
    text.append(failure.message)
    if failure.exit_code is not None and str(failure.exit_code) not in failure.message:
        text.append(f" (exit code {failure.exit_code})", style="dim")
    if failure.signal is not None:
        try:
            name = signals.Signals(failure.signal).name
        except ValueError:
            name = f"signal {failure.signal}"
        if name not in failure.message:
            text.append(f" ({name})", style="dim")
    return text


def highlight_line(line: str) -> Text:
    """A log line with compiler-style errors in red and warnings in yellow."""
    text = Text.from_ansi(line, no_wrap=True, overflow="ellipsis", end="")
    plain = text.plain
    if ERROR_LINE.search(plain):
        text.stylize("bold red")
    elif WARNING_LINE.search(plain):
        text.stylize("yellow")
    return text


def tail_text(log_path: str | None, lines: int = TAIL_LINES, skip_last: int = 0) -> Text | None:
    """The last lines of the task's log, errors marked; None when there is no output.

    `skip_last` leaves out the log's final lines: a callable's traceback, which the engine
    appends to the log and this view renders with Rich instead.
    """
    if not log_path:
        return None
    tail = read_tail(log_path, lines + skip_last)
    if skip_last:
        tail = tail[:-skip_last]
    if not tail:
        return None
    text = Text()
    for line in tail:
        text.append("│ ", style="dim")
        text.append_text(highlight_line(line))
        text.append("\n")
    text.rstrip()
    return text


def traceback_renderable(failure: Failure, width: int = 100) -> RenderableType | None:
    """The callable's traceback, rendered by Rich from the frames (code context from the files)."""
    if failure.frames:
        from rich.traceback import Frame, Stack, Trace, Traceback

        exc_type = failure.exception_type or "Exception"
        exc_value = failure.message
        if failure.traceback:
            last = failure.traceback.rstrip().splitlines()[-1:]
            if last and ":" in last[0]:
                exc_value = last[0].split(":", 1)[1].strip()
        stack = Stack(
            exc_type=exc_type,
            exc_value=exc_value,
            frames=[Frame(f.filename, f.lineno, f.name, f.line) for f in failure.frames],
        )
        return Traceback(Trace(stacks=[stack]), width=width, extra_lines=2, max_frames=20)
    if failure.traceback:
        return Text(failure.traceback.rstrip(), style="red")
    return None


class FailureCard(Static, can_focus=True):
    """A failed task: title, command, why, last lines, traceback. Focusable; the screen acts."""

    DEFAULT_CSS = """
    FailureCard {
        border: round $error 50%;
        padding: 0 1;
        margin: 0 0 1 0;
        height: auto;
    }
    FailureCard:focus { border: round $error; background: $error 8%; }
    FailureCard.-rerunning { border: round $warning 50%; color: $text-muted; }
    FailureCard.-rerunning:focus { border: round $warning; background: $warning 8%; }
    """

    def __init__(self, record: TaskRecord, *, width: int = 100) -> None:
        self.record = record
        self.rerunning = False
        """The task runs again: the card waits to see how that ends."""
        super().__init__(self.build(record, width))
        self.border_title = f"✗ {record.info.name}"

    def show_rerunning(self) -> None:
        """The task was re-run: say so, keep the old explanation until it ends."""
        if not self.rerunning:
            self.rerunning = True
            self.add_class("-rerunning")
            self.border_title = f"↻ {self.task_name} — re-running…"

    def show_failure(self, width: int) -> None:
        """The task failed (again): explain this attempt."""
        self.rerunning = False
        self.remove_class("-rerunning")
        self.border_title = f"✗ {self.task_name}"
        self.update(self.build(self.record, width))

    @property
    def task_name(self) -> str:
        return self.record.info.name

    @staticmethod
    def build(record: TaskRecord, width: int) -> RenderableType:
        parts: list[RenderableType] = [why_text(record.failure)]
        if record.info.command:
            parts.append(
                Text(f"$ {record.info.command}", style="dim", overflow="ellipsis", no_wrap=True)
            )
        failure = record.failure
        trace_lines = len(failure.traceback.splitlines()) if failure and failure.traceback else 0
        tail = tail_text(record.log_path, skip_last=trace_lines)
        if tail is not None:
            parts.append(Text(f"last lines of {record.log_path}:", style="dim"))
            parts.append(tail)
        elif record.log_path:
            parts.append(Text(f"no output ({record.log_path})", style="dim"))
        if record.failure is not None:
            trace = traceback_renderable(record.failure, width)
            if trace is not None:
                parts.append(trace)
        return Group(*parts)
