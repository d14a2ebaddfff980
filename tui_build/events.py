"""The one vocabulary between the engine and its frontends.

Every state change, output chunk and resource sample the engine produces is one of the frozen
dataclasses below, delivered in order to subscribers; every request a frontend makes is one of the
command dataclasses. A frontend that sees only these events can rebuild the whole run: the
dashboard, the console, the JUnit and JSON-lines reports are all folds over this stream
(see :class:`RunSummary`).

This module imports nothing from the rest of the package, nor Textual nor Rich.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class TaskState(str, enum.Enum):
    """Where a task is in its life. See the design's state diagram."""

    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UP_TO_DATE = "up-to-date"
    BLOCKED = "blocked"

    @property
    def finished(self) -> bool:
        """True for the states a task stays in until a re-run."""
        return self in _FINISHED

    @property
    def ok(self) -> bool:
        """True when the task's dependents may go ahead."""
        return self is TaskState.SUCCEEDED or self is TaskState.UP_TO_DATE

    @property
    def bad(self) -> bool:
        """True for the finished states that make a build unsuccessful."""
        return self in _BAD

    def __str__(self) -> str:
        return self.value


_FINISHED = frozenset(
    {
        TaskState.SUCCEEDED,
        TaskState.FAILED,
        TaskState.CANCELLED,
        TaskState.UP_TO_DATE,
        TaskState.BLOCKED,
    }
)
_BAD = frozenset({TaskState.FAILED, TaskState.CANCELLED, TaskState.BLOCKED})


class FailureKind(str, enum.Enum):
    """Why a task failed: a task that ran and failed is not one that could not start."""

    EXIT = "exit"  #: the command exited with a non-zero status
    SIGNAL = "signal"  #: the command was killed by a signal it did not expect
    TIMEOUT = "timeout"  #: the task ran past its `timeout`
    NOT_FOUND = "not-found"  #: the program does not exist ("command not found: X")
    START = "start"  #: could not start for another reason (cwd missing, permission, ...)
    EXCEPTION = "exception"  #: a Python callable raised
    WORKER_DIED = "worker-died"  #: the worker process running a callable died
    ERROR = "error"  #: tuibuild itself could not run the task (a bug or an I/O error)

    def __str__(self) -> str:
        return self.value


class Stream(str, enum.Enum):
    """Which of the task's output streams a chunk came from."""

    STDOUT = "stdout"
    STDERR = "stderr"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Frame:
    """One frame of a Python traceback, enough for the dashboard to render it with context."""

    filename: str
    lineno: int
    name: str
    line: str


@dataclass(frozen=True)
class Failure:
    """Why a task failed, in words and in structure."""

    kind: FailureKind
    message: str
    """One line for people: "exited with status 2", "command not found: cc", ..."""
    exit_code: int | None = None
    signal: int | None = None
    traceback: str | None = None
    """The full traceback text of a callable's exception."""
    frames: tuple[Frame, ...] = ()
    exception_type: str | None = None


@dataclass(frozen=True)
class TaskInfo:
    """What frontends need to know about a task, fixed for the whole run."""

    name: str
    base: str
    """The task's table name; differs from `name` for `foreach` and `matrix` instances."""
    group: str
    deps: tuple[str, ...]
    description: str | None = None
    kind: str = "cmd"
    """"cmd", "call" or "none" (an aggregate with nothing to run)."""
    command: str = ""
    """The command as a user would type it, or `module:function(...)` for a callable."""
    target: bool = False
    """True when the task was named as a target (or is one of the default ones)."""


# ---------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True)
class BuildStarted:
    """The engine starts (or, after commands on a finished build, resumes) scheduling."""

    run_id: str
    build_file: str
    targets: tuple[str, ...]
    tasks: tuple[TaskInfo, ...]
    jobs: int
    log_dir: str
    time: float
    resumed: bool = False


@dataclass(frozen=True)
class TaskStateChanged:
    """A task moved from one state to another. Exactly one event per transition."""

    task: str
    state: TaskState
    previous: TaskState
    time: float
    reason: str | None = None
    """Why, in words: "dependency failed: compile[a.c]", "cancelled by user", "forced", ..."""
    failure: Failure | None = None
    """Set when `state` is FAILED."""
    duration: float | None = None
    """Seconds the task ran, set when a running task finishes."""
    result: str | None = None
    """For a callable that succeeded: the repr of its return value."""
    log_path: str | None = None
    """The task's full log (set on RUNNING and on the finished states)."""


@dataclass(frozen=True)
class TaskOutput:
    """A chunk of a task's output, decoded (invalid UTF-8 replaced).

    Chunks follow the order in which the runner read them; their boundaries are arbitrary (a line
    may be split across chunks, and `\\r` progress updates are kept as they came).
    """

    task: str
    stream: Stream
    text: str
    time: float


@dataclass(frozen=True)
class ResourceSample:
    """CPU and memory of a running task's whole process tree, sampled about once a second."""

    task: str
    cpu_percent: float
    rss_bytes: int
    processes: int
    time: float


@dataclass(frozen=True)
class BuildFinished:
    """Every selected task is finished: nothing runs, nothing more will start on its own."""

    run_id: str
    outcome: str
    """"succeeded", "failed", "cancelled" or "interrupted"."""
    counts: Mapping[str, int]
    time: float
    elapsed: float


@dataclass(frozen=True)
class Heartbeat:
    """Emitted every few seconds while tasks run, so quiet frontends can show liveness."""

    running: tuple[tuple[str, float], ...]
    """(task, seconds running) for every running task."""
    time: float


Event = BuildStarted | TaskStateChanged | TaskOutput | ResourceSample | BuildFinished | Heartbeat


# ---------------------------------------------------------------------------------------------
# Commands


@dataclass(frozen=True)
class Cancel:
    """Cancel each task and every unfinished task of its subtree (running ones are killed)."""

    tasks: tuple[str, ...]


@dataclass(frozen=True)
class Rerun:
    """Put each task and the failed / cancelled / blocked tasks of its subtree back to pending.

    With `force`, the whole subtree runs again.
    """

    tasks: tuple[str, ...]
    force: bool = False


@dataclass(frozen=True)
class RerunFailed:
    """Re-run every failed, cancelled and blocked task."""


@dataclass(frozen=True)
class CancelAll:
    """Cancel everything unfinished."""


Command = Cancel | Rerun | RerunFailed | CancelAll


# ---------------------------------------------------------------------------------------------
# The summary, folded from events alone


@dataclass
class TaskRecord:
    """What a fold over the events knows about one task."""

    info: TaskInfo
    state: TaskState = TaskState.PENDING
    started: float | None = None
    duration: float | None = None
    failure: Failure | None = None
    reason: str | None = None
    result: str | None = None
    log_path: str | None = None
    last_output: float | None = None
    cpu_percent: float | None = None
    rss_bytes: int | None = None


@dataclass
class RunSummary:
    """Counts, durations and failures of a build, rebuilt from its events.

    Feed it every event with :meth:`apply`. The engine keeps no other record that frontends
    read: what is here is what any subscriber can know.
    """

    run_id: str = ""
    build_file: str = ""
    log_dir: str = ""
    targets: tuple[str, ...] = ()
    jobs: int = 0
    started: float | None = None
    finished: float | None = None
    outcome: str | None = None
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    """Task names in the order they finished (the last finish counts)."""
    _in_order: set[str] = field(default_factory=set, repr=False, compare=False)

    def apply(self, event: Event) -> None:
        """Fold one event into the summary."""
        if isinstance(event, TaskOutput):
            record = self.tasks.get(event.task)
            if record is not None:
                record.last_output = event.time
        elif isinstance(event, TaskStateChanged):
            record = self.tasks[event.task]
            record.state = event.state
            record.reason = event.reason
            if event.state is TaskState.RUNNING:
                record.started = event.time
                record.duration = None
                record.failure = None
                record.result = None
                record.last_output = event.time
            elif event.state is TaskState.PENDING:
                record.failure = None
                record.duration = None
                record.started = None
            if event.failure is not None:
                record.failure = event.failure
            if event.duration is not None:
                record.duration = event.duration
            if event.result is not None:
                record.result = event.result
            if event.log_path is not None:
                record.log_path = event.log_path
            if event.state.finished:
                if event.task in self._in_order:  # a re-run: only its last finish counts
                    self.order.remove(event.task)
                self._in_order.add(event.task)
                self.order.append(event.task)
        elif isinstance(event, ResourceSample):
            record = self.tasks.get(event.task)
            if record is not None:
                record.cpu_percent = event.cpu_percent
                record.rss_bytes = event.rss_bytes
        elif isinstance(event, BuildStarted):
            self.run_id = event.run_id
            self.build_file = event.build_file
            self.log_dir = event.log_dir
            self.targets = event.targets
            self.jobs = event.jobs
            self.outcome = None
            self.finished = None
            if not event.resumed or self.started is None:
                self.started = event.time
            for info in event.tasks:
                if info.name not in self.tasks:
                    self.tasks[info.name] = TaskRecord(info)
        elif isinstance(event, BuildFinished):
            self.finished = event.time
            self.outcome = event.outcome

    def apply_all(self, events: Iterable[Event]) -> RunSummary:
        for event in events:
            self.apply(event)
        return self

    def counts(self) -> dict[TaskState, int]:
        """How many tasks are in each state (every state present, zeros included)."""
        counts = dict.fromkeys(TaskState, 0)
        for record in self.tasks.values():
            counts[record.state] += 1
        return counts

    def in_state(self, *states: TaskState) -> list[TaskRecord]:
        return [r for r in self.tasks.values() if r.state in states]

    @property
    def failures(self) -> list[TaskRecord]:
        """Failed tasks, in the order they finished."""
        return [self.tasks[n] for n in self.order if self.tasks[n].state is TaskState.FAILED]

    def slowest(self, n: int = 5) -> list[TaskRecord]:
        timed = [r for r in self.tasks.values() if r.duration is not None]
        return sorted(timed, key=lambda r: r.duration or 0.0, reverse=True)[:n]

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        end = self.finished if self.finished is not None else self.started
        return max(0.0, end - self.started)

    @property
    def succeeded(self) -> bool:
        """True when every task ended succeeded or up to date."""
        return bool(self.tasks) and all(r.state.ok for r in self.tasks.values())
