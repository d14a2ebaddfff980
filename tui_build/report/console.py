"""Headless output for CI logs and pipes: grouped, unscrambled, with the cause at the bottom.

By default each task's output is printed as one block when the task ends, copied from its log
file (so nothing is held in memory however much a task prints); `--output stream` prints lines
as they come, prefixed with the task name. A heartbeat names long-running tasks; the summary
ends with every failure again, so the last screen of a CI log says what broke.

Plain ANSI, no Rich: headless start-up must stay cheap.
"""

from __future__ import annotations

import codecs
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import BinaryIO, TextIO

from ..events import (
    BuildFinished,
    BuildStarted,
    Event,
    Heartbeat,
    RunSummary,
    TaskOutput,
    TaskRecord,
    TaskState,
    TaskStateChanged,
)
from ..logs import collapse_carriage_returns, read_tail, strip_escapes
from ..symbols import SYMBOL, format_duration

_ANSI = {
    "green": "32",
    "red": "31",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
    "bright_black": "90",
    "bright_red": "91",
    "bold": "1",
    "dim": "2",
}
_STATE_COLOR = {
    TaskState.SUCCEEDED: "green",
    TaskState.FAILED: "red",
    TaskState.CANCELLED: "magenta",
    TaskState.UP_TO_DATE: "blue",
    TaskState.BLOCKED: "bright_red",
    TaskState.RUNNING: "yellow",
}
_SHOWN = (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED)


def copy_log(path: str, out: TextIO, clean: Callable[[str], str] | None) -> None:
    """Copy a task's log to `out` (`clean` drops escape sequences), ending with a newline.

    Most output is ASCII without an escape sequence: such a chunk goes to the stream's byte
    buffer as it is, with no decoding and encoding on the way. Anything else is decoded
    incrementally (a character cut by a chunk's end is put back together, invalid UTF-8
    replaced) and cleaned.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError:
        return
    raw: BinaryIO | None = getattr(out, "buffer", None)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text_pending = True  # text in `out` that its byte buffer has not seen (the caller's too)
    with f:
        last = b"\n"
        while chunk := f.read(1 << 20):
            last = chunk[-1:]
            # (and no character of the chunk before waits to be completed)
            if (
                raw is not None
                and chunk.isascii()
                and b"\x1b" not in chunk
                and not decoder.getstate()[0]
            ):
                if text_pending:
                    out.flush()
                    text_pending = False
                raw.write(chunk)
                continue
            text = decoder.decode(chunk)
            out.write(clean(text) if clean is not None and b"\x1b" in chunk else text)
            text_pending = True
        rest = decoder.decode(b"", final=True)
        if rest:
            out.write(rest)
        if last != b"\n":
            out.write("\n")
    out.flush()


class BackgroundWriter:
    """A text stream written in order by a thread of its own, so a task's block of output
    (many megabytes, copied from its log) never holds up the engine's loop, which meanwhile
    reads the pipes of the tasks still running.

    Writes and log copies wait in a list that the thread takes every :data:`FLUSH_EVERY`
    seconds (at once for a log copy or a drain), so a build of thousands of quiet tasks costs
    one append per line, not a wake-up of the thread per task; a flush asked for is done at
    the next take. Text waiting is capped (:data:`PENDING_CAP` characters: past it the
    build waits for the writer, and memory never grows); a log is copied chunk by chunk.
    :meth:`drain` waits until all is written and flushed. A stream that fails (a closed
    pipe) is given up, and the build goes on.
    """

    FLUSH_EVERY = 0.05
    PENDING_CAP = 1 << 22

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._pending: list[str | tuple[str, Callable[[str], str] | None]] = []
        self._chars = 0
        self._flush = False
        self._busy = False  # the thread holds items it has not written yet
        self._failed = False
        self._ready = threading.Condition(threading.Lock())
        self._thread = threading.Thread(target=self._run, name="tuibuild-console", daemon=True)
        self._thread.start()

    def write(self, text: str) -> None:
        if self._failed or not text:
            return
        with self._ready:
            self._pending.append(text)
            self._chars += len(text)
            if self._chars > self.PENDING_CAP:
                self._ready.notify_all()
                while self._chars > self.PENDING_CAP and not self._failed:
                    self._ready.wait()

    def copy_log(self, path: str, clean: Callable[[str], str] | None) -> None:
        """Copy the log at `path` (see :func:`copy_log`) once everything before is written."""
        if self._failed:
            return
        with self._ready:
            self._pending.append((path, clean))  # copy_log flushes when done
            self._ready.notify_all()

    def flush(self) -> None:
        """Flush at the thread's next take (within :data:`FLUSH_EVERY` seconds)."""
        self._flush = True

    def drain(self) -> None:
        """Wait until everything written so far is written out and flushed."""
        with self._ready:
            self._flush = True
            self._ready.notify_all()
            while (self._pending or self._busy or self._flush) and not self._failed:
                self._ready.wait()

    def isatty(self) -> bool:
        return self.out.isatty()

    def _run(self) -> None:
        while True:
            with self._ready:
                if not self._pending and not self._flush:
                    self._ready.wait(self.FLUSH_EVERY)
                items, self._pending, self._chars = self._pending, [], 0
                flush, self._flush = self._flush, False
                self._busy = True
                self._ready.notify_all()  # a writer waiting at the cap may go on
            try:
                if not self._failed:
                    for item in items:
                        if isinstance(item, tuple):
                            copy_log(item[0], self.out, item[1])
                        else:
                            self.out.write(item)
                    if flush:
                        self.out.flush()
            except (OSError, ValueError):  # a closed stream: stop writing, keep building
                self._failed = True
            with self._ready:
                self._busy = False
                self._ready.notify_all()


def use_color(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """NO_COLOR wins, then FORCE_COLOR, then whether the stream is a terminal."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR") not in (None, "", "0"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


def terminal_columns(fallback: int = 100) -> int:
    """The terminal's width as `shutil.get_terminal_size` gives it, without importing shutil."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(1).columns or fallback
    except OSError:
        return fallback


class ConsoleReporter:
    """An engine subscriber that writes the build's story to a text stream."""

    def __init__(
        self,
        out: TextIO,
        *,
        mode: str = "block",
        color: bool = False,
        heartbeat_every: float = 30.0,
        tail_lines: int = 20,
        clock: Callable[[], float] = time.monotonic,
        background: bool = False,
    ) -> None:
        self._direct = out
        self._background = BackgroundWriter(out) if background else None
        self.out: TextIO | BackgroundWriter = self._background or out
        """Where everything goes: the stream itself, or its :class:`BackgroundWriter`."""
        self.mode = mode
        self.color = color
        self.heartbeat_every = heartbeat_every
        self.tail_lines = tail_lines
        self._clock = clock
        self._last_heartbeat = clock()
        self._partial: dict[str, str] = {}
        self._quiet: set[str] = set()
        """Tasks seen starting that printed nothing since: their log is not even opened."""
        self._width = min(terminal_columns(), 120)

    # -- styling ----------------------------------------------------------------------------

    def style(self, text: str, *styles: str) -> str:
        if not self.color or not styles:
            return text
        codes = ";".join(_ANSI[s] for s in styles if s in _ANSI)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def _clean(self, text: str) -> str:
        """Task output may carry escape sequences; keep none of them in a plain log."""
        return text if self.color else strip_escapes(text)

    def _write(self, text: str) -> None:
        self.out.write(text)

    # -- events -----------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        if isinstance(event, TaskOutput):
            self._quiet.discard(event.task)
            if self.mode == "stream":
                self._stream(event.task, event.text)
        elif isinstance(event, TaskStateChanged):
            if event.state is TaskState.RUNNING:
                self._quiet.add(event.task)
            elif event.state in _SHOWN:
                if self.mode == "stream":
                    self._stream_end(event)
                else:
                    self._block(event)
                self._quiet.discard(event.task)
        elif isinstance(event, Heartbeat):
            now = self._clock()
            if now - self._last_heartbeat >= self.heartbeat_every:
                self._last_heartbeat = now
                running = ", ".join(f"{t} ({format_duration(s)})" for t, s in event.running)
                self._write(self.style(f"… still running: {running}", "dim") + "\n")
                self.out.flush()
        elif isinstance(event, BuildStarted):
            if event.resumed:
                self._write(self.style("… resuming the build", "dim") + "\n")
        elif isinstance(event, BuildFinished):
            self.out.flush()

    def _header(self, event: TaskStateChanged) -> str:
        state = event.state
        color = _STATE_COLOR.get(state, "")
        head = f"{SYMBOL[state]} {event.task}"
        detail = str(state)
        if event.duration is not None:
            detail += f" in {format_duration(event.duration)}"
        if state is TaskState.FAILED and event.failure is not None:
            detail += f": {event.failure.message}"
        elif state is TaskState.CANCELLED and event.reason:
            detail += f": {event.reason}"
        line = f"── {head} ── {detail} "
        pad = max(3, self._width - len(line))
        return self.style(line + "─" * pad, color, "bold")

    def _block(self, event: TaskStateChanged) -> None:
        self.begin_block(event)
        self.begin_output(event)
        if event.log_path and event.task not in self._quiet:
            self._copy_log(event.log_path)
        self.end_output(event)
        self.end_block(event)
        self.out.flush()

    # -- hooks for CI flavours (GitHub groups, GitLab sections) ---------------------------------

    def begin_block(self, event: TaskStateChanged) -> None:
        """Open a finished task's block; by default, its header line."""
        self._write(self._header(event) + "\n")

    def end_block(self, event: TaskStateChanged) -> None:
        """Close a finished task's block."""

    def begin_output(self, event: TaskStateChanged) -> None:
        """Called just before the task's own output (and traceback) is copied out."""

    def end_output(self, event: TaskStateChanged) -> None:
        """Called just after it; the output ended with a newline."""

    def before_failures(self, summary: RunSummary) -> None:
        """Called in the summary just before the failures, which stay the last thing printed."""

    def _copy_log(self, path: str) -> None:
        clean = None if self.color else strip_escapes
        if self._background is not None:
            self._background.copy_log(path, clean)
        else:
            copy_log(path, self._direct, clean)

    def _stream(self, task: str, text: str) -> None:
        buffered = self._partial.pop(task, "") + text
        lines = buffered.split("\n")
        rest = lines.pop()
        if rest:
            self._partial[task] = rest
        if lines:
            prefix = self.style(f"[{task}]", "cyan") + " "
            out = "".join(
                prefix + self._clean(collapse_carriage_returns(line)) + "\n" for line in lines
            )
            self._write(out)

    def _stream_end(self, event: TaskStateChanged) -> None:
        rest = self._partial.pop(event.task, "")
        if rest:
            self._stream(event.task, rest + "\n")
        self._write(self._header(event) + "\n")
        self.out.flush()

    # -- the end ----------------------------------------------------------------------------

    def summary(self, summary: RunSummary) -> None:
        """Counts, the slowest tasks, where the logs are, then every failure with its last lines."""
        counts = summary.counts()
        total = len(summary.tasks)
        parts = [
            self.style(f"{n} {state}", _STATE_COLOR.get(state, ""))
            for state, n in counts.items()
            if n
        ]
        outcome = summary.outcome or "unfinished"
        self._write("\n" + self.style(f"═══ tuibuild: {outcome} ", "bold") + "═" * 40 + "\n")
        self._write(
            f"{total} task{'s' if total != 1 else ''}: {', '.join(parts)}"
            f" in {format_duration(summary.elapsed)}\n"
        )
        slow = [r for r in summary.slowest(5) if (r.duration or 0) >= 0.05]
        if slow:
            self._write(
                "slowest: "
                + ", ".join(f"{r.info.name} {format_duration(r.duration)}" for r in slow)
                + "\n"
            )
        cancelled = summary.in_state(TaskState.CANCELLED)
        if cancelled:
            names = ", ".join(r.info.name for r in cancelled[:10])
            more = f" and {len(cancelled) - 10} more" if len(cancelled) > 10 else ""
            self._write(self.style(f"cancelled: {names}{more}", "magenta") + "\n")
        blocked = summary.in_state(TaskState.BLOCKED)
        if blocked:
            names = ", ".join(r.info.name for r in blocked[:10])
            more = f" and {len(blocked) - 10} more" if len(blocked) > 10 else ""
            self._write(self.style(f"blocked (not run): {names}{more}", "bright_red") + "\n")
        if summary.log_dir:
            self._write(self.style(f"logs: {summary.log_dir}", "dim") + "\n")
        self.before_failures(summary)
        for record in summary.failures:
            self._failure(record)
        self.drain()

    def drain(self) -> None:
        """Write out and flush everything so far (what follows may print directly)."""
        if self._background is not None:
            self._background.drain()
        else:
            self.out.flush()

    def _failure(self, record: TaskRecord) -> None:
        failure = record.failure
        message = failure.message if failure else "failed"
        self._write("\n" + self.style(f"✗ {record.info.name}: {message}", "red", "bold") + "\n")
        if record.info.command:
            self._write(self.style(f"  $ {record.info.command}", "dim") + "\n")
        if record.log_path:
            # A callable's traceback ends its log: show it whole, after the last lines.
            extra = len(failure.traceback.splitlines()) if failure and failure.traceback else 0
            tail = read_tail(record.log_path, self.tail_lines + extra)
            if tail:
                self._write(
                    self.style(f"  last {len(tail)} lines of {record.log_path}:", "dim") + "\n"
                )
                for line in tail:
                    self._write("  │ " + self._clean(line) + "\n")
