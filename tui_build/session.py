"""One build's bond with the store: lock, checker, recorder, weights, and the no-op cache.

:func:`open_session` is what `make_engine` calls before building an engine; the session then
subscribes to the engine and turns its events into store writes (batched: one commit per
scheduling pass or per half second, not one per task). The engine itself knows nothing of SQLite:
it sees an :class:`~tui_build.engine.UpToDateChecker` and a run id, and emits events.

When a build ends with every selected task ok, the session checks them all once more and, if a
second run would do nothing, writes the cache that lets :mod:`tui_build.fastpath` say so without
loading the build file.
"""

from __future__ import annotations

import marshal
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import fastpath, placeholders
from .events import BuildFinished, BuildStarted, Event, TaskState, TaskStateChanged
from .graph import Graph, _glob, resolve_inputs
from .logs import new_run_id
from .store import JOURNAL_NAME, FingerprintRecord, Store, read_journal, store_dir
from .uptodate import _MAGIC, Checker, PlannedTask, always_runs, plan, print_plan, relative

FLUSH_EVERY = 0.5
"""Seconds between batched commits while a build runs."""


def _warn(message: str) -> None:
    print(f"tuibuild: warning: {message}", file=sys.stderr)


class BuildSession:
    """The store, the checker and the recorder of one build (or of one dashboard session)."""

    def __init__(
        self,
        graph: Graph,
        store: Store,
        checker: Checker,
        run_id: str,
        *,
        argv: Sequence[str],
        typed_targets: Sequence[str] | None,
        token: str,
    ) -> None:
        self.graph = graph
        self.store = store
        self.checker = checker
        self.run_id = run_id
        self.argv = list(argv)
        self.typed_targets = None if typed_targets is None else tuple(typed_targets)
        self.token = token
        self.directory = store.directory
        self._seq = 0
        self._timer = False
        # Rows of tasks that started since the last commit. Most end before the next one, and
        # their final row replaces this one (same key), so it is only written by a commit that
        # finds the task still running.
        self._starting_rows: dict[str, dict[str, Any]] = {}
        # Durations are written together at each commit, so that the results queued between
        # two commits form one run of the same statement (one executemany).
        self._durations: dict[str, float] = {}
        self.cache_written = False

    @property
    def weights(self) -> dict[str, float]:
        """Recorded durations of the graph's tasks; tasks never timed get the mean."""
        known = self.store.durations()
        relevant = [known[n] for n in self.graph.tasks if n in known]
        default = sum(relevant) / len(relevant) if relevant else 1.0
        return {name: known.get(name, default) for name in self.graph.tasks}

    def attach(self, engine: Any) -> None:
        """Record everything `engine` does from now on."""
        engine.subscribe(self.on_event)

    def close(self) -> None:
        self.flush()
        self.store.close()

    def flush(self) -> None:
        """Commit what is queued, with a row for each task still running."""
        for row in self._starting_rows.values():
            self.store.put_result(self.run_id, self._seq, row)
        self._starting_rows.clear()
        for task, seconds in self._durations.items():
            self.store.put_duration(task, seconds)
        self._durations.clear()
        self.store.flush()

    # -- recording --------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        store = self.store
        if isinstance(event, TaskStateChanged):
            self._task(event)
            self._flush_later()
        elif isinstance(event, BuildStarted):
            if event.resumed:
                discard_cache(self.directory)
                store.resume_run(self.run_id)
            else:
                store.begin_run(
                    self.run_id,
                    start=event.time,
                    argv=self.argv,
                    targets=event.targets,
                    build_file=event.build_file,
                    log_dir=event.log_dir,
                    jobs=event.jobs,
                    tasks=len(event.tasks),
                )
            self.flush()
        elif isinstance(event, BuildFinished):
            store.finish_run(
                self.run_id, end=event.time, outcome=event.outcome, counts=dict(event.counts)
            )
            self.flush()
            if set(event.counts) <= {"succeeded", "up-to-date"}:
                try:
                    self.cache_written = write_noop_cache(self)
                except Exception as exc:  # the cache is an optimisation; never fail a build
                    _warn(f"cannot write the no-op cache: {exc}")
            self.flush()

    def _task(self, event: TaskStateChanged) -> None:
        state = event.state
        if state is TaskState.RUNNING:
            # Emitted before the engine schedules the task's process: the journal line is
            # written before anything of the task runs.
            self.checker.starting(self.graph.tasks[event.task])
            self._starting_rows[event.task] = {
                "task": event.task,
                "state": str(state),
                "start": event.time,
                "log_path": event.log_path,
            }
            return
        if not state.finished:
            return
        self._starting_rows.pop(event.task, None)
        self._seq += 1
        failure = event.failure
        start = event.time - event.duration if event.duration is not None else event.time
        self.store.put_result(
            self.run_id,
            self._seq,
            {
                "task": event.task,
                "state": str(state),
                "reason": event.reason,
                "exit_code": failure.exit_code if failure else None,
                "signal": failure.signal if failure else None,
                "failure_kind": str(failure.kind) if failure else None,
                "message": failure.message if failure else None,
                "start": start,
                "duration": event.duration,
                "log_path": event.log_path,
                "result": event.result,
            },
        )
        if state is TaskState.SUCCEEDED and event.duration and event.previous is TaskState.RUNNING:
            self._durations[event.task] = event.duration
        elif state is TaskState.FAILED:
            self.checker.mark(event.task, "failed")
        elif state is TaskState.CANCELLED and event.previous is TaskState.RUNNING:
            interrupted = event.reason == "interrupted"
            self.checker.mark(event.task, "interrupted" if interrupted else "cancelled")

    def _flush_later(self) -> None:
        if self._timer:
            return
        try:
            import asyncio

            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = True

        def flush() -> None:
            self._timer = False
            self.flush()

        loop.call_later(FLUSH_EVERY, flush)


def discard_cache(directory: Path) -> None:
    """Forget the no-op cache: a build that may change anything is about to start."""
    (directory / fastpath.CACHE_NAME).unlink(missing_ok=True)


def save_cache(directory: Path, data: tuple[Any, ...]) -> None:
    """Write the no-op cache atomically (the fast path sees the old one or the new one)."""
    target = directory / fastpath.CACHE_NAME
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as f:
        marshal.dump((fastpath.CACHE_VERSION, *data), f)
    os.replace(temporary, target)


def open_session(
    graph: Graph,
    *,
    argv: Sequence[str],
    typed_targets: Sequence[str] | None,
    force: bool = False,
    warn: Callable[[str], None] = _warn,
) -> BuildSession:
    """Open and lock the build's store; raises StoreLocked when another build holds it."""
    directory = store_dir(graph.spec.path)
    store = Store.open(directory, warn=warn)
    try:
        store.lock()
    except BaseException:
        store.close()
        raise
    discard_cache(directory)
    store.mark_interrupted()
    store.recover_journal()
    run_id = new_run_id()
    known = {run.id for run in store.runs(5)}
    suffix = 1
    while run_id in known or (directory / "logs" / run_id).exists():
        suffix += 1
        run_id = f"{new_run_id()}-{suffix}"
    store.prune(graph.spec.keep_runs - 1, directory / "logs", keep={run_id})
    token = os.urandom(8).hex()
    store.set_meta("noop_token", token)
    store.flush()
    checker = Checker(graph, store, force=force)
    return BuildSession(
        graph, store, checker, run_id, argv=argv, typed_targets=typed_targets, token=token
    )


def write_noop_cache(session: BuildSession) -> bool:
    """If a run now would skip every task, save what that rests on for :mod:`.fastpath`.

    Uses the checker's records (every task was checked or recorded in this build) and verifies
    them against the file system as it is now. Returns whether the cache was written.
    """
    graph = session.graph
    if session.typed_targets is None:
        return False  # the graph was not chosen by the command line alone (--failed)
    root = graph.spec.root
    build = graph.spec.path
    st = os.stat(build)
    if st.st_mtime >= fastpath.PROCESS_START:
        return False  # edited while we read it: the graph may not be what the file says now
    known = session.checker.known
    globs: dict[str, tuple[str, ...]] = {}
    inputs: dict[str, tuple[int, int]] = {}
    outputs: dict[str, list[str]] = {}
    foreach: dict[str, list[str]] = {}
    for task in graph.tasks.values():
        for pattern in task.spec.foreach:
            if pattern not in globs:
                globs[pattern] = tuple(_glob(pattern, root))
        if task.spec.foreach:
            foreach.setdefault(task.base, []).append(task.params["input"])
        if task.kind == "none":
            continue
        record = known.get(task.name)
        if always_runs(task) is not None or record is None or record.status != "ok":
            return False
        magic = False
        for pattern in (*task.spec.inputs, *task.spec.outputs):
            expanded = placeholders.expand(pattern, task.params)
            if _MAGIC & set(expanded):
                magic = True
                if expanded not in globs:
                    globs[expanded] = tuple(_glob(expanded, root))
                if not globs[expanded] and pattern in task.spec.outputs:
                    return False
        if magic:
            listed = [relative(p, root) for p in resolve_inputs(task, root)]
            if listed != [item[0] for item in record.inputs]:
                return False
        for path, mtime, size, _ in record.inputs:
            seen = (-1, 0) if mtime is None else (mtime, size)
            if inputs.setdefault(path, seen) != seen:
                return False
        for output in record.outputs:
            outputs.setdefault(os.path.dirname(output) or ".", []).append(output)
    for base_name, instances in foreach.items():
        matches: set[str] = set()
        for pattern in graph.spec.tasks[base_name].foreach:
            matches.update(globs[pattern])
        if matches != set(instances):
            return False  # files appeared that the next full run would turn into tasks
    for path, (mtime, size) in inputs.items():
        try:
            now = os.stat(root / path)
        except OSError:
            if mtime == -1:
                continue
            return False
        if (now.st_mtime_ns, now.st_size) != (mtime, size):
            return False
    folders = _output_folders(root, outputs)
    if folders is None:
        return False
    paths = list(inputs)
    save_cache(
        session.directory,
        (
            str(build),
            st.st_mtime_ns,
            st.st_size,
            session.typed_targets,
            session.token,
            len(graph.tasks),
            str(root),
            tuple(globs.items()),
            tuple(paths),
            tuple(inputs[p][0] for p in paths),
            tuple(inputs[p][1] for p in paths),
            folders,
        ),
    )
    return True


SETTLE = 0.05
"""Seconds past a folder's mtime after which any change to it gets a later mtime (file-system
timestamps come from a clock that ticks every few milliseconds)."""


def _output_folders(
    root: Path, outputs: Mapping[str, list[str]]
) -> tuple[tuple[str, int, int], ...] | None:
    """(folder, inode, mtime) of every folder holding outputs, once all of them exist.

    Removing, adding or renaming a file changes its folder's mtime, so the fast path checks one
    stat per folder instead of one per output. None when an output is missing.
    """
    result: list[tuple[str, int, int]] = []
    for folder, files in outputs.items():
        path = root / folder
        age = time.time() - os.stat(path).st_mtime
        if age < SETTLE:
            time.sleep(SETTLE - age)
        before = os.stat(path)
        if not all(os.path.lexists(root / f) for f in files):
            return None
        after = os.stat(path)
        if (before.st_ino, before.st_mtime_ns) != (after.st_ino, after.st_mtime_ns):
            return None
        result.append((folder, after.st_ino, after.st_mtime_ns))
    return tuple(result)


def dry_run(graph: Graph, *, force: bool = False) -> list[PlannedTask]:
    """Print (and return) what a build of `graph` would run and why, running nothing.

    Reads the store without locking it: a dry run may look while a build runs.
    """
    store = Store.open_existing(store_dir(graph.spec.path))
    try:
        known = store.fingerprints() if store is not None else {}
        # A build killed mid-run has not been recovered yet (that needs the lock): read its
        # journal as the next build will.
        for name in read_journal(store_dir(graph.spec.path) / JOURNAL_NAME):
            old = known.get(name)
            if old is not None:
                known[name] = FingerprintRecord("running", old.command, old.inputs, old.outputs)
        durations = store.durations() if store is not None else {}
    finally:
        if store is not None:
            store.close()
    checker = Checker(graph, None, force=force, known=known)
    entries = plan(graph, checker, durations)
    print_plan(entries, graph)
    return entries
