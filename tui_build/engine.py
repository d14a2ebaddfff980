"""The per-task state machine: what may start, in which order, and what cancel and re-run mean.

The engine owns scheduling and nothing else. It asks a runner to do the work, writes what the
work prints to the task's log, and tells subscribers about every change as an event from
:mod:`tui_build.events`. It never prints and imports no UI, so the dashboard, the console and the
tests drive the very same object.

Shape (as :mod:`graphlib`): a count of unmet dependencies per task; a task whose count reaches
zero is ready and waits in a heap ordered by its longest remaining path; the loop starts ready
tasks while the jobs limit and the task's pool allow. Commands (cancel, re-run) change states and
recount; after the build has finished they resume it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .events import (
    BuildFinished,
    BuildStarted,
    Cancel,
    CancelAll,
    Command,
    Event,
    Failure,
    FailureKind,
    Heartbeat,
    Rerun,
    RerunFailed,
    RunSummary,
    Stream,
    TaskInfo,
    TaskState,
    TaskStateChanged,
)
from .graph import Graph, Task, resolve_job, resolve_outputs
from .logs import log_file_name, new_run_id
from .runners.base import Job, Outcome, Runner
from .tasklog import TaskLog

if TYPE_CHECKING:
    from .session import BuildSession

Subscriber = Callable[[Event], None]


class UpToDateChecker(Protocol):
    """Decides whether a ready task may be skipped, and learns from every success (the store)."""

    def check(self, task: Task, job: Job, deps_ran: bool) -> str | None:
        """A reason to skip ("up to date"), or None when the task must run."""

    def succeeded(self, task: Task, job: Job) -> None:
        """Record the fingerprint of a task that just succeeded."""

    def invalidate(self, task: Task) -> None:
        """Forget the task's last success (it failed, was cancelled or interrupted)."""


_LOOKAHEAD = 6
"""Commands handed over early, at most, per job slot (see `Engine._lookahead`). They are handed
over in batches, when half of them have started: the engine wakes and writes once for several."""


class Engine:
    """Runs a selected :class:`Graph` with a jobs limit, pools, priorities and commands."""

    def __init__(
        self,
        graph: Graph,
        runner: Runner,
        *,
        jobs: int,
        keep_going: bool = False,
        log_root: Path | None = None,
        run_id: str | None = None,
        env: Mapping[str, str] | None = None,
        weights: Mapping[str, float] | None = None,
        checker: UpToDateChecker | None = None,
        heartbeat_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.graph = graph
        self.runner = runner
        self.jobs = max(1, jobs)
        self.keep_going = keep_going
        self.run_id = run_id or new_run_id()
        root = graph.spec.root
        self.log_dir = (log_root or root / ".tuibuild" / "logs") / self.run_id
        self.checker = checker
        self.heartbeat_interval = heartbeat_interval
        self.store_session: BuildSession | None = None
        """The store session a frontend opened for this run (`cli.make_engine`); unused here."""
        self._clock = clock
        base = dict(os.environ if env is None else env)
        base.update(graph.spec.env)
        base["PYTHONUNBUFFERED"] = "1"
        self._env = base
        self._names = list(graph.topological_order())
        self._index = {name: i for i, name in enumerate(self._names)}
        self._priority = graph.remaining_path(weights)
        self._targets = set(graph.targets)
        self.state: dict[str, TaskState] = dict.fromkeys(self._names, TaskState.PENDING)
        self._unmet: dict[str, int] = {}
        self._ready: list[tuple[float, int, str]] = []
        self._running: dict[str, asyncio.Task[None]] = {}
        # Tasks whose runner is at work: cancelling their asyncio task stops the runner, and
        # _execute, which catches the cancel, records it.
        self._in_runner: set[str] = set()
        # Look-ahead: with a runner that can hold a command until a slot frees (the spawn
        # helper), up to _LOOKAHEAD x jobs more commands are handed over early, so one starts
        # the moment another exits instead of after the engine has heard of the exit and done
        # its bookkeeping. They stay READY (and count against the limit for everything else)
        # until the runner reports the real start. Only while nothing but such commands runs.
        # A runner offers it with two optional methods, `queue` and `resume`.
        queue = getattr(runner, "queue", None)
        self._resume_runner: Callable[[], None] | None = getattr(runner, "resume", None)
        self._lookahead = bool(
            queue is not None
            and self._resume_runner is not None
            and queue(self.jobs, not self.keep_going)
        )
        self._early: set[str] = set()  # handed over early, not started yet
        self._withdrawn: set[str] = set()  # early ones taken back (fail-fast): READY again
        self._others = 0  # running tasks that are not such commands (not _queueable)
        self._forced: set[str] = set()  # re-run on request: skip the up-to-date check once
        self._started_at: dict[str, float] = {}
        self._cancel_reason: dict[str, str] = {}
        self._ran: set[str] = set()  # tasks that actually ran (not skipped) in this build
        self._attempts: Counter[str] = Counter()
        self._pool_use: Counter[str] = Counter()
        self._pool_limits = dict(graph.spec.pools)
        self._stopped_by: str | None = None  # fail-fast: the failure that stopped the build
        self._interrupted = False
        self._subscribers: list[Subscriber] = []
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[str] | None = None
        self._event_loop: asyncio.AbstractEventLoop  # set by _loop(), before any task starts
        self._build_started: float | None = None
        self._resumed = False
        self.summary = RunSummary()
        self.subscribe(self.summary.apply)

    # -- subscribers ------------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call `subscriber` with every event from now on, in order, on the engine's loop."""
        self._subscribers.append(subscriber)

    def _emit(self, event: Event) -> None:
        for subscriber in self._subscribers:
            subscriber(event)

    # -- running ----------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self._loop_task is None or self._loop_task.done()

    async def run(self) -> str:
        """Run until every task is finished; return the outcome (see :class:`BuildFinished`)."""
        self._start_loop()
        return await self.wait_finished()

    async def wait_finished(self) -> str:
        """Wait until the build is idle again (commands may have resumed it meanwhile)."""
        while True:
            task = self._loop_task
            assert task is not None, "run() was never called"
            outcome = await asyncio.shield(task)
            if self._loop_task is task:
                return outcome

    async def shutdown(self) -> None:
        """Cancel everything still running and close the runner."""
        self.cancel_all()
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        await self.runner.close()

    def interrupt(self) -> None:
        """The user pressed Ctrl-C: cancel everything; the build ends "interrupted"."""
        self._interrupted = True
        self.cancel_all(reason="interrupted")

    def _start_loop(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> str:
        self._event_loop = asyncio.get_running_loop()  # once: each call is a getpid() syscall
        self.log_dir.mkdir(parents=True, exist_ok=True)
        now = self._clock()
        if self._build_started is None:
            self._build_started = time.monotonic()
        self._emit(
            BuildStarted(
                run_id=self.run_id,
                build_file=str(self.graph.spec.path),
                targets=tuple(self.graph.targets),
                tasks=tuple(self._info(name) for name in self._names),
                jobs=self.jobs,
                log_dir=str(self.log_dir),
                time=now,
                resumed=self._resumed,
            )
        )
        self._resumed = True
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat())
        try:
            self._recount()
            while True:
                self._wake.clear()
                self._start_ready()
                if not self._running:
                    if self._stopped_by is not None:
                        self._block_rest(
                            f"not started: the build stopped after {self._stopped_by} failed"
                        )
                    if not self._running and not self._ready:
                        break
                    continue
                await self._wake.wait()
        finally:
            heartbeat.cancel()
        outcome = self._outcome()
        counts = Counter(str(s) for s in self.state.values())
        self._emit(
            BuildFinished(
                run_id=self.run_id,
                outcome=outcome,
                counts=dict(counts),
                time=self._clock(),
                elapsed=time.monotonic() - self._build_started,
            )
        )
        return outcome

    def _outcome(self) -> str:
        states = set(self.state.values())
        if self._interrupted:
            return "interrupted"
        if TaskState.FAILED in states or TaskState.BLOCKED in states:
            return "failed"
        if TaskState.CANCELLED in states:
            return "cancelled"
        return "succeeded"

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            if self._running:
                now = time.monotonic()
                running = tuple(
                    (name, now - self._started_at.get(name, now))
                    for name in self._running
                    if name not in self._early
                )
                self._emit(Heartbeat(running, self._clock()))

    # -- states -----------------------------------------------------------------------------

    def _info(self, name: str) -> TaskInfo:
        return self.graph.tasks[name].info(target=name in self._targets)

    def _set(
        self,
        name: str,
        state: TaskState,
        *,
        reason: str | None = None,
        failure: Failure | None = None,
        duration: float | None = None,
        result: str | None = None,
        log_path: str | None = None,
    ) -> None:
        previous = self.state[name]
        self.state[name] = state
        self._emit(
            TaskStateChanged(
                task=name,
                state=state,
                previous=previous,
                time=self._clock(),
                reason=reason,
                failure=failure,
                duration=duration,
                result=result,
                log_path=log_path,
            )
        )

    def _recount(self) -> None:
        """Recompute unmet dependencies and the ready heap from the states (after commands)."""
        self._ready = []
        for name in self._names:
            state = self.state[name]
            deps = self.graph.tasks[name].deps
            self._unmet[name] = sum(1 for d in deps if not self.state[d].ok)
            if state is TaskState.READY:
                self._push_ready(name)
            elif state is TaskState.PENDING:
                bad = next((d for d in deps if self.state[d].bad), None)
                if bad is not None:
                    self._block(name, bad)
                elif self._unmet[name] == 0:
                    self._make_ready(name)

    def _push_ready(self, name: str) -> None:
        heapq.heappush(self._ready, (-self._priority.get(name, 1.0), self._index[name], name))

    def _make_ready(self, name: str) -> None:
        task = self.graph.tasks[name]
        if task.kind == "none":
            # An aggregate "ran" only if one of its dependencies did: its dependents must not
            # re-run just because it exists.
            deps_ran = any(d in self._ran for d in task.deps)
            if self.checker is None or name in self._forced or deps_ran:
                self._forced.discard(name)
                self._set(name, TaskState.SUCCEEDED, duration=0.0)
                self._ran.add(name)
            else:
                self._set(name, TaskState.UP_TO_DATE, reason="up to date")
            self._satisfied(name)
            return
        self._set(name, TaskState.READY)
        self._push_ready(name)

    def _block(self, name: str, because: str) -> None:
        word = "cancelled" if self.state[because] is TaskState.CANCELLED else "failed"
        if self.state[because] is TaskState.BLOCKED:
            word = "blocked"
        self._set(name, TaskState.BLOCKED, reason=f"dependency {word}: {because}")
        for dependent in self.graph.dependents(name):
            if self.state[dependent] in (TaskState.PENDING, TaskState.READY):
                self._block(dependent, name)

    def _satisfied(self, name: str) -> None:
        """`name` ended ok: its dependents may become ready."""
        for dependent in self.graph.dependents(name):
            self._unmet[dependent] -= 1
            if self._unmet[dependent] == 0 and self.state[dependent] is TaskState.PENDING:
                self._make_ready(dependent)

    def _block_dependents(self, name: str) -> None:
        for dependent in self.graph.dependents(name):
            if self.state[dependent] in (TaskState.PENDING, TaskState.READY):
                self._block(dependent, name)

    def _block_rest(self, reason: str) -> None:
        for name in self._names:
            if self.state[name] in (TaskState.PENDING, TaskState.READY):
                self._set(name, TaskState.BLOCKED, reason=reason)
        self._ready = []

    # -- starting and finishing -------------------------------------------------------------

    def _start_ready(self) -> None:
        if self._stopped_by is not None:
            return
        skipped: list[tuple[float, int, str]] = []
        refill = len(self._early) <= _LOOKAHEAD // 2 * self.jobs
        while self._ready:
            early = len(self._running) >= self.jobs
            if early and not (refill and self._may_look_ahead()):
                break
            item = heapq.heappop(self._ready)
            name = item[2]
            if self.state[name] is not TaskState.READY or name in self._running:
                continue
            task = self.graph.tasks[name]
            if early and not self._queueable(task):
                heapq.heappush(self._ready, item)  # in priority order: nothing overtakes it
                break
            pool = task.pool
            if pool is not None and self._pool_use[pool] >= self._pool_limits.get(pool, 1):
                skipped.append(item)
                continue
            self._start(name, early=early)
        for item in skipped:
            heapq.heappush(self._ready, item)

    def _may_look_ahead(self) -> bool:
        return (
            self._lookahead
            and self._others == 0
            and len(self._running) < (1 + _LOOKAHEAD) * self.jobs
        )

    def _queueable(self, task: Task) -> bool:
        return self._lookahead and task.kind == "cmd" and task.pool is None

    def _start(self, name: str, early: bool = False) -> None:
        task = self.graph.tasks[name]
        try:
            job = resolve_job(task, self.graph.spec.root, self._env)
        except Exception as exc:  # a placeholder that cannot be filled, a glob error, ...
            self._set(name, TaskState.RUNNING)
            self._fail(name, Failure(FailureKind.ERROR, f"cannot prepare the task: {exc}"), 0.0)
            return
        forced = name in self._forced
        self._forced.discard(name)
        if self.checker is not None and not forced:
            deps_ran = any(d in self._ran for d in task.deps)
            reason = self.checker.check(task, job, deps_ran)
            if reason is not None:
                self._set(name, TaskState.UP_TO_DATE, reason=reason)
                self._satisfied(name)
                return
        # As ninja does: a declared output's folder exists before the task runs.
        for output in resolve_outputs(task, self.graph.spec.root) if task.spec.outputs else ():
            with contextlib.suppress(OSError):  # the task itself will say what is wrong
                output.parent.mkdir(parents=True, exist_ok=True)
        self._attempts[name] += 1
        log_path = self.log_dir / log_file_name(name, self._attempts[name])
        if task.pool is not None:
            self._pool_use[task.pool] += 1
        self._ran.add(name)
        if not self._queueable(task):
            self._others += 1
        if early:
            self._early.add(name)  # READY until the runner starts it (_really_started)
        else:
            self._started_at[name] = time.monotonic()
            # RUNNING is announced here, not in _execute, so that a cancel arriving before the
            # coroutine's first step still finds the task running and is honoured by _execute.
            self._set(name, TaskState.RUNNING, log_path=str(log_path))
        self._running[name] = self._event_loop.create_task(self._execute(task, job, log_path))

    def _really_started(self, name: str, log_path: Path) -> None:
        """The runner started a command handed over early: now it runs."""
        if name in self._early:
            self._early.discard(name)
            self._started_at[name] = time.monotonic()
            self._set(name, TaskState.RUNNING, log_path=str(log_path))

    async def _execute(self, task: Task, job: Job, log_path: Path) -> None:
        name = task.name
        sink: TaskLog | None = None
        cancelled = name in self._cancel_reason
        outcome = Outcome()
        try:
            sink = TaskLog(name, log_path, self._emit, self._clock)
            if name in self._early:
                sink.on_started = functools.partial(self._really_started, name, log_path)
            if not cancelled:
                self._in_runner.add(name)
                try:
                    outcome = await self.runner.run(job, sink)
                finally:
                    self._in_runner.discard(name)
                if outcome.failure is not None and outcome.failure.traceback:
                    # The traceback belongs to the task's output: the log, the dashboard's
                    # pane and `tuibuild log` all show it where it happened.
                    text = outcome.failure.traceback.rstrip("\n") + "\n"
                    sink.output(Stream.STDERR, text.encode("utf-8", "replace"))
            sink.close()  # here, not only below: a log that cannot be written fails the task
        except asyncio.CancelledError:
            cancelled = True
        except OSError as exc:  # the log cannot be written: disk full, folder removed, ...
            outcome = Outcome(
                Failure(FailureKind.ERROR, f"cannot write the task's log {log_path}: {exc}")
            )
        except Exception as exc:  # a bug in a runner must not take the build down
            outcome = Outcome(Failure(FailureKind.ERROR, f"internal error: {exc!r}"))
        finally:
            if sink is not None:
                with contextlib.suppress(OSError):  # reported above, or the outcome stands
                    sink.close()
            self._release(task)
            self._wake.set()
        duration = time.monotonic() - self._started_at.pop(name, time.monotonic())
        if name in self._withdrawn:  # never started: READY as before, for _block_rest
            self._withdrawn.discard(name)
            self._cancel_reason.pop(name, None)
            self._attempts[name] -= 1
            self._ran.discard(name)
            self._push_ready(name)
            return
        if cancelled:
            reason = self._cancel_reason.pop(name, "cancelled")
            self._set(
                name, TaskState.CANCELLED, reason=reason, duration=duration, log_path=str(log_path)
            )
            if self.checker is not None:
                self.checker.invalidate(task)
            self._block_dependents(name)
        elif outcome.failure is not None:
            self._fail(name, outcome.failure, duration, log_path)
        else:
            if self.checker is not None:
                self.checker.succeeded(task, job)
            self._set(
                name,
                TaskState.SUCCEEDED,
                duration=duration,
                result=outcome.result,
                log_path=str(log_path),
            )
            self._satisfied(name)
            return
        if self._lookahead and self._stopped_by is None and self._resume_runner is not None:
            # A command that ended badly held back the ones waiting in the runner (fail-fast);
            # the build goes on, so they may start.
            self._resume_runner()

    def _release(self, task: Task) -> None:
        """The task no longer counts against the jobs limit and its pool (at most once)."""
        if self._running.pop(task.name, None) is None:
            return
        if task.pool is not None:
            self._pool_use[task.pool] -= 1
        if not self._queueable(task):
            self._others -= 1
        self._early.discard(task.name)

    def _withdraw_early(self) -> None:
        """Fail-fast: the commands handed over early must not start; they stay READY."""
        for name in list(self._early):
            if name in self._cancel_reason:
                continue
            self._withdrawn.add(name)
            self._cancel_reason[name] = "not started"
            self._running[name].cancel()

    def _fail(
        self, name: str, failure: Failure, duration: float, log_path: Path | None = None
    ) -> None:
        self._set(
            name,
            TaskState.FAILED,
            failure=failure,
            reason=failure.message,
            duration=duration,
            log_path=str(log_path) if log_path else None,
        )
        if self.checker is not None:
            self.checker.invalidate(self.graph.tasks[name])
        self._block_dependents(name)
        if not self.keep_going and self._stopped_by is None:
            self._stopped_by = name
            self._withdraw_early()
        self._wake.set()

    # -- commands ---------------------------------------------------------------------------

    def submit(self, command: Command) -> None:
        """Apply a command from a frontend. Call on the engine's loop."""
        if isinstance(command, Cancel):
            for name in command.tasks:
                self.cancel(name)
        elif isinstance(command, Rerun):
            self.rerun(*command.tasks, force=command.force)
        elif isinstance(command, RerunFailed):
            self.rerun_failed()
        elif isinstance(command, CancelAll):
            self.cancel_all()

    def cancel(self, name: str, reason: str = "cancelled by user") -> None:
        """Cancel the task and every unfinished task of its subtree; block what is downstream."""
        self._cancel(self.graph.subtree(name), reason)

    def cancel_all(self, reason: str = "cancelled by user") -> None:
        self._cancel(self._names, reason)

    def _cancel(self, names: Iterable[str], reason: str) -> None:
        cancelled: list[str] = []
        for name in names:
            state = self.state[name]
            if state is TaskState.RUNNING or name in self._early:
                self._cancel_reason.setdefault(name, reason)
                if name in self._in_runner:
                    self._running[name].cancel()
            elif state in (TaskState.PENDING, TaskState.READY):
                self._set(name, TaskState.CANCELLED, reason=reason)
                cancelled.append(name)
        for name in cancelled:
            self._block_dependents(name)
        self._wake.set()

    def rerun(self, *names: str, force: bool = False) -> None:
        """Send the tasks' failed / cancelled / blocked subtrees (all of it with `force`) back to
        pending, then everything blocked that is no longer blocked; resume the build."""
        reset: list[str] = []
        for name in names:
            for member in self.graph.subtree(name):
                state = self.state[member]
                if state.bad or (force and state.finished) or (member == name and state.finished):
                    reset.append(member)
                    if force or member == name:
                        self._forced.add(member)
        self._reset(reset, "forced" if force else "re-run")

    def rerun_failed(self) -> None:
        self._reset([n for n in self._names if self.state[n].bad], "re-run")

    def _reset(self, names: list[str], reason: str) -> None:
        self._stopped_by = None
        self._interrupted = False
        for name in dict.fromkeys(names):
            if self.state[name].finished:
                self._set(name, TaskState.PENDING, reason=reason)
        # Blocked tasks whose dependencies are no longer bad wait again (in dependency order).
        for name in self._names:
            if self.state[name] is TaskState.BLOCKED and not any(
                self.state[d].bad for d in self.graph.tasks[name].deps
            ):
                self._set(name, TaskState.PENDING, reason="unblocked")
        if self.finished:
            if any(not s.finished for s in self.state.values()):
                self._start_loop()
        else:
            self._recount()
            self._wake.set()
