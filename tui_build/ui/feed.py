"""Events on their way to the dashboard: queued as they come, folded into batches on a timer.

Whatever produces the events (the live engine on a thread, :mod:`.bridge`; the engine in a
process of its own, :mod:`.engine_process`; a recorded run, :mod:`.past`) is an
:class:`EventFeed`: it queues from its own thread, and the app drains the queue on a timer
(every ~80 ms) and folds each batch at once (:meth:`EventFeed.drain` and :class:`Batch`), so
widgets are refreshed once per tick, never once per line or per event.

Output waiting in the queue is bounded: a task's consecutive chunks collapse into one
:class:`_OutputRun` (as toolong's messages do), and a run grown past :data:`OUTPUT_CAP`
characters keeps only its last :data:`~.line_store.TAIL_LINES` lines and counts the others (the
log file has them all). While Textual starts, or on a slow terminal, a firehose would otherwise
pile up hundreds of megabytes before the UI could look at them.

Nothing here imports Textual or the engine: the UI's process imports this while the engine's
process (forked before) starts the build.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..events import (
    BuildFinished,
    BuildStarted,
    Command,
    Event,
    RunSummary,
    Stream,
    TaskOutput,
    TaskState,
    TaskStateChanged,
)
from .line_store import TAIL_LINES, last_lines_start
from .tally import Tally

OUTPUT_CAP = 4_000_000
"""Characters of one task's output the queue holds before it drops all but the tail."""


class _OutputRun:
    """One task's output that arrived in a row, waiting for the UI: parts, and lines dropped."""

    __slots__ = ("cap", "chars", "parts", "skipped", "task", "time")

    def __init__(self, task: str) -> None:
        self.task = task
        self.parts: list[str] = []
        self.chars = 0
        self.cap = OUTPUT_CAP
        self.time = 0.0
        self.skipped = 0
        """Complete lines dropped before `parts` (only the log file has them)."""

    def add(self, text: str, at: float) -> None:
        self.parts.append(text)
        self.chars += len(text)
        self.time = at
        if self.chars > self.cap:
            self.keep_tail()
            # What is kept may still be over the cap (long lines, one huge line): look again
            # only once it has doubled, or every chunk would copy it all again (quadratic).
            self.cap = max(OUTPUT_CAP, 2 * self.chars)

    def keep_tail(self) -> None:
        """Drop (and count) all but the last :data:`~.line_store.TAIL_LINES` lines now, cap or
        not: what the UI's line store would keep of them anyway."""
        if self.chars < TAIL_LINES:
            return
        joined = "".join(self.parts)
        newlines = joined.count("\n")
        if newlines > TAIL_LINES:
            joined = joined[last_lines_start(joined, TAIL_LINES) :]
            self.skipped += newlines - TAIL_LINES + 1
        self.parts = [joined]
        self.chars = len(joined)

    def extend(self, later: _OutputRun) -> None:
        """Take in the run that came right after this one (from the engine's process)."""
        if not later.skipped:
            for part in later.parts:
                self.add(part, later.time)
            return
        # The later run dropped lines of its own: all of this one's come before those.
        self.skipped += sum(part.count("\n") for part in self.parts) + later.skipped
        self.parts, self.chars, self.cap = list(later.parts), later.chars, later.cap
        self.time = later.time


class EventQueue:
    """Events on their way from the engine's thread (or process) to the UI's, thread-safe.

    A task's consecutive output chunks collapse into one :class:`_OutputRun`, trimmed to its
    tail past :data:`OUTPUT_CAP`, so however fast a task prints, what waits here is bounded.
    The engine's process queues its events here before sending them to the UI's
    (:mod:`.engine_process`), and the UI queues them here again for its timer.
    """

    def __init__(self) -> None:
        self._queue: deque[Event | _OutputRun] = deque()
        self._lock = threading.Lock()
        self._runs: dict[str, _OutputRun] = {}  # the runs in the queue still taking output
        self.chars = 0
        """Characters of output waiting (approximate: trims in :meth:`put` are not counted)."""

    def put(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, TaskOutput):
                run = self._runs.get(event.task)
                if run is None:
                    run = self._runs[event.task] = _OutputRun(event.task)
                    self._queue.append(run)
                run.add(event.text, event.time)
                self.chars += len(event.text)
                return
            if isinstance(event, TaskStateChanged):
                self._runs.pop(event.task, None)  # later output comes after this change
            self._queue.append(event)

    def put_all(self, items: list[Event | _OutputRun]) -> None:
        """Queue what another queue's :meth:`take` returned (from the engine's process)."""
        with self._lock:
            for item in items:
                if isinstance(item, _OutputRun):
                    # Collapsed here too, so what the UI takes in one tick stays bounded
                    # however many batches the engine's process sent meanwhile.
                    open_run = self._runs.get(item.task)
                    if open_run is not None:
                        self.chars -= open_run.chars
                        open_run.extend(item)
                        self.chars += open_run.chars
                        continue
                    self.chars += item.chars
                    self._runs[item.task] = item
                elif isinstance(item, TaskStateChanged):
                    self._runs.pop(item.task, None)
                self._queue.append(item)

    def take(self) -> deque[Event | _OutputRun]:
        """Everything queued so far, in order; the queue starts again empty."""
        with self._lock:
            queue, self._queue = self._queue, deque()
            self._runs.clear()
            self.chars = 0
        return queue

    def __bool__(self) -> bool:
        return bool(self._queue)


@dataclass
class Batch:
    """What one drain of the event queue changed, folded for the UI."""

    changed: set[str] = field(default_factory=set)
    """Tasks whose state, duration or resources changed."""
    output: dict[str, list[str | int]] = field(default_factory=dict)
    """New output per task, in order (joined once per task before feeding the store); an int
    is a number of lines dropped on the way (:meth:`.line_store.OutputStore.skip`)."""
    attempts: list[tuple[str, str | None]] = field(default_factory=list)
    """(task, log path) of every task that started running, in order."""
    started: bool = False
    """A BuildStarted arrived (the build began or resumed)."""
    finished: bool = False
    """A BuildFinished arrived."""
    events: int = 0

    def __bool__(self) -> bool:
        return self.events > 0


def recorded_durations(engine: Any) -> dict[str, float]:
    """The store's durations of the engine's tasks; {} without a store session (tests)."""
    session = engine.store_session
    if session is None:
        return {}
    try:
        known: dict[str, float] = session.store.durations()
    except Exception:  # a broken store costs the ETA, never the dashboard
        return {}
    tasks = engine.graph.tasks
    return {name: seconds for name, seconds in known.items() if name in tasks}


class EventFeed:
    """Events from somewhere, queued as they come and folded into batches for the app.

    The live build's feed is :class:`Bridge`; a recorded run's is :class:`~.past.PastRun`. Both
    queue from their own thread (:meth:`inject`) and the app drains on its timer.
    """

    read_only = False
    """True when commands (cancel, re-run) have nothing to act on: a past run."""
    past: str | None = None
    """What a past run is ("run ID of DATE, from the history"), for the header."""

    def __init__(self, *, threaded: bool) -> None:
        self.threaded = threaded
        self.summary = RunSummary()
        """The UI's own fold of the events it has drained (never the engine's object)."""
        self.tally = Tally()
        """Counts per state and the running tasks of :attr:`summary`, kept up to date as
        events are folded, so per-tick questions never walk every task."""
        self._queue = EventQueue()
        self.error: BaseException | None = None
        self.durations: dict[str, float] = {}
        """Seconds each task took the last time it succeeded (the store's), for the ETA."""

    def start(self) -> None:
        """Start producing events."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Stop producing events (and whatever produces them)."""
        raise NotImplementedError

    def submit(self, command: Command) -> None:
        """Send a command (cancel, re-run, ...) to what runs the build."""
        raise NotImplementedError

    def inject(self, event: Event) -> None:
        """Queue an event as if the engine had sent it (synthetic states for tests and demos)."""
        self._on_event(event)

    def _on_event(self, event: Event) -> None:
        """The engine's subscriber (on the engine's thread): queue, collapsing output."""
        self._queue.put(event)

    # -- events ------------------------------------------------------------------------------

    def drain(self) -> Batch:
        """Fold every queued event into :attr:`summary` and return what changed."""
        queue = self._queue.take()
        batch = Batch()
        apply = self.summary.apply
        tasks = self.summary.tasks
        tally = self.tally
        for event in queue:
            batch.events += 1
            if isinstance(event, _OutputRun):
                apply(TaskOutput(event.task, Stream.STDOUT, "", event.time))
                chunks = batch.output.setdefault(event.task, [])
                if event.skipped:
                    chunks.append(event.skipped)
                chunks.extend(event.parts)
                continue
            record = tasks.get(getattr(event, "task", ""))
            before = record.state if record is not None else None
            apply(event)
            if isinstance(event, TaskStateChanged):
                if before is not None:
                    tally.move(event.task, before, event.state)
                batch.changed.add(event.task)
                if event.state is TaskState.RUNNING:
                    batch.attempts.append((event.task, event.log_path))
                    # Output from a previous attempt queued before this start belongs to it.
                    batch.output.pop(event.task, None)
            elif isinstance(event, BuildStarted):
                for info in event.tasks:
                    tally.add(info.name, tasks[info.name].state)
                batch.started = True
            elif isinstance(event, BuildFinished):
                batch.finished = True
            else:  # ResourceSample, Heartbeat
                task = getattr(event, "task", None)
                if task is not None:
                    batch.changed.add(task)
        return batch

    @property
    def running(self) -> bool:
        """True while some task of the UI's view runs or waits to run."""
        return self.tally.unfinished > 0
