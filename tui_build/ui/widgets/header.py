"""The two header lines: progress and counts, then what the build is doing or how it ended."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widget import Widget

from ...events import RunSummary, TaskState
from ...symbols import COLOR, SYMBOL, format_bytes, format_duration
from ..eta import eta
from ..tally import Tally

ETA_EVERY = 0.5
"""Seconds between two ETA computations (it walks every unfinished task)."""


def progress_bar(done: int, total: int, width: int = 20) -> Text:
    """A bar of `width` cells that reads without colour too (━ done, ─ to do)."""
    filled = round(width * done / total) if total else 0
    bar = Text("━" * filled, style="green")
    bar.append("─" * (width - filled), style="bright_black")
    return bar


def outcome_text(
    summary: RunSummary, counts: Mapping[TaskState, int], *, hints: bool = True
) -> Text:
    """How the build ended, and (`hints`) what to do about it."""
    if summary.succeeded:
        return Text(f"✓ succeeded in {format_duration(summary.elapsed)}", style="bold green")
    bad = [
        f"{counts[s]} {s}"
        for s in (TaskState.FAILED, TaskState.CANCELLED, TaskState.BLOCKED)
        if counts[s]
    ]
    word = summary.outcome or "stopped"
    hint = (
        ""
        if not hints
        else " — press r on a failure to re-run, F to re-run all, f for details"
        if counts[TaskState.FAILED]
        else " — press r to re-run"
    )
    return Text(f"✗ {word}: {', '.join(bad)}{hint}", style="bold red")


class BuildHeader(Widget):
    """Build file, targets, progress, counts per state, elapsed, ETA, system CPU and memory."""

    DEFAULT_CSS = """
    BuildHeader {
        height: 2;
        background: $panel;
        padding: 0 1;
    }
    """

    def __init__(
        self, *, durations: Mapping[str, float] | None = None, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.durations: Mapping[str, float] = durations or {}
        """Recorded seconds per task, from the store (for the ETA)."""
        self._eta: tuple[float, float | None] | None = None
        self.summary = RunSummary()
        self.tally = Tally()
        self.now = 0.0
        self.cpu: float | None = None
        self.memory: tuple[int, int] | None = None
        """(used, total) bytes."""
        self.message: Text | None = None
        self.past_run: str | None = None
        """Set for a run from the history (`tuibuild show`): said first, and no hints to act."""

    def update_build(self, summary: RunSummary, tally: Tally, now: float) -> None:
        """Show the build as of `now`; `tally` holds its counts (no walk over every task)."""
        self.summary = summary
        self.tally = tally
        self.now = now
        self.refresh()

    def sample_system(self) -> None:
        """Take the machine's CPU and memory use now (the app calls this every second)."""
        import psutil

        self.cpu = psutil.cpu_percent(interval=None)
        memory = psutil.virtual_memory()
        self.memory = (memory.total - memory.available, memory.total)
        self.refresh()

    def status_line(self) -> Text:
        summary = self.summary
        if self.message is not None:
            return self.message
        if self.past_run is not None:
            text = Text(f"◷ {self.past_run} (read-only)  ", style="bold")
            if summary.outcome is not None:
                text.append_text(outcome_text(summary, self.tally.counts, hints=False))
            return text
        if summary.outcome is not None and not self.tally.unfinished:
            return outcome_text(summary, self.tally.counts)
        running = self.tally.running
        if not summary.tasks:
            return Text("starting…", style="dim")
        text = Text(f"▶ {len(running)}/{summary.jobs or '?'} jobs", style="yellow")
        if running:
            names = ", ".join(running[:4])
            more = f" +{len(running) - 4}" if len(running) > 4 else ""
            text.append(f": {names}{more}", style="")
        return text

    def estimate(self) -> float | None:
        """The ETA, recomputed at most every :data:`ETA_EVERY` seconds and counted down between."""
        cached = self._eta
        if cached is not None and 0 <= self.now - cached[0] < ETA_EVERY:
            at, value = cached
            return None if value is None else max(0.0, value - (self.now - at))
        value = eta(self.summary, self.now, self.durations)
        self._eta = (self.now, value)
        return value

    def render(self) -> RenderableType:
        summary = self.summary
        total = len(summary.tasks)
        counts = self.tally.counts
        done = self.tally.done
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append("tuibuild ", style="bold")
        line.append_text(progress_bar(done, total, 16 if self.size.width < 100 else 24))
        line.append(f" {done}/{total} ", style="bold")
        for state in TaskState:
            if counts[state]:
                line.append(f" {SYMBOL[state]}{counts[state]}", style=COLOR[state])
        end = summary.finished if summary.finished is not None and summary.outcome else self.now
        if summary.started is not None:
            line.append(f"  time {format_duration(max(0.0, end - summary.started))}")
            estimate = self.estimate() if summary.outcome is None else None
            if estimate is not None:
                line.append(f" ETA ~{format_duration(estimate)}", style="dim")
        if self.cpu is not None and self.memory is not None:
            used, all_ = self.memory
            line.append(
                f"  CPU {self.cpu:.0f}% MEM {format_bytes(used)}/{format_bytes(all_)}", style="dim"
            )
        where = Text(no_wrap=True, overflow="ellipsis")
        where.append_text(self.status_line())
        target = ", ".join(summary.targets[:3]) + (" …" if len(summary.targets) > 3 else "")
        if summary.build_file:
            where.append(f"   {short_path(summary.build_file)} → {target}", style="dim")
        return Group(line, where)


@lru_cache(maxsize=8)
def short_path(path: str) -> str:
    """The build file as the user named it, more or less: relative to the working directory.

    Cached: the header is drawn every tick, and `relpath` asks the system for the working
    directory each time (slow on a loaded machine); the dashboard never changes directory.
    """
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("../..") else path
