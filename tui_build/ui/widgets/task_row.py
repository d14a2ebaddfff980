"""What one task row says: symbol and colour, name, time, resources and why it is where it is.

Shared by the dependency tree and the grouped list (and the group headers of the output pane),
so a task reads the same wherever it appears. Pure functions of the UI's :class:`RunSummary`:
no widget state, easy to test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.text import Text

from ...events import RunSummary, TaskRecord, TaskState
from ...symbols import COLOR, SYMBOL, format_bytes, format_duration

if TYPE_CHECKING:
    from ...graph import Graph

SHARED_MARK = "↺"


@dataclass
class RowContext:
    """What every row needs besides its own record; built once per refresh."""

    summary: RunSummary
    now: float
    stall_after: float
    pools: dict[str, int]
    """Pool limits from `[pools]`."""
    task_pool: Callable[[str], str | None]
    pool_use: Counter[str]
    """Running tasks per pool, now."""
    waits: dict[str, tuple[str, str]] = field(default_factory=dict)
    """What each waiting task waits on, as said once during this refresh: a target may wait
    on thousands of tasks, and its row, its output header and the detail line all ask."""

    @classmethod
    def build(
        cls,
        summary: RunSummary,
        *,
        now: float,
        stall_after: float,
        pools: dict[str, int],
        task_pool: Callable[[str], str | None],
        running: Iterable[str],
    ) -> RowContext:
        """The context of one refresh; `running` names the running tasks (a handful, kept by
        the bridge's tally: no walk over every task)."""
        use: Counter[str] = Counter()
        for name in running:
            pool = task_pool(name)
            if pool is not None:
                use[pool] += 1
        return cls(summary, now, stall_after, pools, task_pool, use)

    @classmethod
    def of_graph(
        cls, graph: Graph | None, summary: RunSummary, *, now: float, running: Iterable[str]
    ) -> RowContext:
        """The context of one refresh of `graph`'s build: its pools and stall threshold (None:
        a past run whose build file no longer parses, so no pools and the default threshold)."""
        if graph is None:
            return cls.build(
                summary,
                now=now,
                stall_after=60.0,
                pools={},
                task_pool=lambda name: None,
                running=running,
            )
        tasks = graph.tasks
        return cls.build(
            summary,
            now=now,
            stall_after=graph.spec.stall_after,
            pools=dict(graph.spec.pools),
            task_pool=lambda name: getattr(tasks.get(name), "pool", None),
            running=running,
        )


def state_text(state: TaskState) -> Text:
    """The state's symbol in its colour (readable without colour too)."""
    return Text(SYMBOL[state], style=f"bold {COLOR[state]}")


def elapsed(record: TaskRecord, now: float) -> float | None:
    """Seconds the task ran (finished) or has been running (live)."""
    if record.state is TaskState.RUNNING and record.started is not None:
        return max(0.0, now - record.started)
    return record.duration


def is_stalled(record: TaskRecord, ctx: RowContext) -> bool:
    """A running task that printed nothing for `stall_after` seconds."""
    if record.state is not TaskState.RUNNING:
        return False
    last = record.last_output if record.last_output is not None else record.started
    return last is not None and ctx.now - last >= ctx.stall_after


def _names(names: Iterable[str], limit: int = 2) -> str:
    items = list(names)
    shown = ", ".join(items[:limit])
    if len(items) > limit:
        shown += f" +{len(items) - limit}"
    return shown


def _waits_on(record: TaskRecord, tasks: Mapping[str, TaskRecord]) -> tuple[str, str]:
    waiting = [d for d in record.info.deps if d in tasks and not tasks[d].state.finished]
    if waiting:
        return f"waits on {_names(waiting)}", "dim"
    bad = [d for d in record.info.deps if d in tasks and tasks[d].state.bad]
    if bad:
        return f"after {_names(bad)}", "dim"
    return "waiting", "dim"


def why(record: TaskRecord, ctx: RowContext) -> tuple[str, str]:
    """Why the task is where it is, and the style to say it in ("" when there is nothing)."""
    state = record.state
    tasks = ctx.summary.tasks
    if state is TaskState.PENDING:
        said = ctx.waits.get(record.info.name)
        if said is None:
            said = ctx.waits[record.info.name] = _waits_on(record, tasks)
        return said
    if state is TaskState.READY:
        pool = ctx.task_pool(record.info.name)
        if pool is not None and ctx.pool_use[pool] >= ctx.pools.get(pool, 1):
            return f"waits for pool {pool} ({ctx.pools.get(pool, 1)} at a time)", "cyan"
        return "waits for a free job slot", "cyan"
    if state is TaskState.RUNNING:
        if is_stalled(record, ctx):
            last = record.last_output if record.last_output is not None else record.started
            quiet = format_duration(ctx.now - (last or ctx.now))
            return f"possibly stalled: quiet {quiet}", "bold yellow"
        return "", ""
    if state is TaskState.FAILED:
        message = record.failure.message if record.failure else (record.reason or "failed")
        return message, "red"
    if state in (TaskState.BLOCKED, TaskState.CANCELLED, TaskState.UP_TO_DATE):
        return record.reason or str(state), COLOR[state]
    return "", ""


def resources(record: TaskRecord) -> str:
    """CPU and memory of a running task's process tree ("" before the first sample)."""
    if record.state is not TaskState.RUNNING or record.cpu_percent is None:
        return ""
    return f"{record.cpu_percent:.0f}% {format_bytes(record.rss_bytes)}"


def detail(record: TaskRecord, ctx: RowContext) -> Text:
    """Everything right of the name: time, resources, reason."""
    text = Text()
    seconds = elapsed(record, ctx.now)
    if seconds is not None and record.state is not TaskState.PENDING:
        text.append(
            format_duration(seconds), style="yellow" if record.state is TaskState.RUNNING else "dim"
        )
    reason, style = why(record, ctx)
    if reason:  # before the resources: a narrow panel must still say it
        text.append("  " + reason if text else reason, style=style)
    res = resources(record)
    if res:
        text.append("  " + res, style="magenta")
    return text


def summary_line(record: TaskRecord, ctx: RowContext) -> Text:
    """The selected task in full (under the panel, where a narrow row had to be cut)."""
    text = Text()
    text.append_text(state_text(record.state))
    text.append(f" {record.info.name}  ", style="bold")
    text.append(str(record.state), style=COLOR[record.state])
    more = detail(record, ctx)
    if more:
        text.append("  ")
        text.append_text(more)
    if record.failure is not None and (record.failure.traceback or record.failure.frames):
        text.append("  f: traceback", style="dim")
    if record.info.description:
        text.append(f"  — {record.info.description}", style="dim italic")
    return text


def header(record: TaskRecord, ctx: RowContext) -> str:
    """A plain one-line header for grouped output: symbol, name, state, duration."""
    seconds = elapsed(record, ctx.now)
    line = f"{SYMBOL[record.state]} {record.info.name}  {record.state}"
    if seconds is not None and record.state is not TaskState.PENDING:
        line += f"  {format_duration(seconds)}"
    reason, _ = why(record, ctx)
    if reason:
        line += f"  — {reason}"
    return line


def counts_text(records: Iterable[TaskRecord]) -> Text:
    """ "✓3 ▶1 ✗1" in colour, for group rows and the header."""
    counts: Counter[TaskState] = Counter(r.state for r in records)
    text = Text()
    for state in TaskState:
        if counts[state]:
            if text:
                text.append(" ")
            text.append(f"{SYMBOL[state]}{counts[state]}", style=COLOR[state])
    return text
