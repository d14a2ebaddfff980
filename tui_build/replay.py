"""A recorded run, told again as engine events, so any frontend can show it (`tuibuild show`).

The store keeps each task's state, times, exit status and log path, not the events themselves;
this module rebuilds the events a frontend needs from those records and the log files: the
build's start, each task's start (with its log), its output, its end, the build's end. Folding
them (:class:`~.events.RunSummary`) gives what the run's own frontends saw at its end, except
for structured traceback frames, which are not stored (the traceback text is in the log).

The graph of the current build file supplies groups, dependencies and descriptions; a task the
build file no longer has still appears, in a group of its own. Nothing here imports the UI.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Mapping
from pathlib import Path

from .events import (
    BuildFinished,
    BuildStarted,
    Event,
    Failure,
    FailureKind,
    Stream,
    TaskInfo,
    TaskOutput,
    TaskState,
    TaskStateChanged,
)
from .graph import Task
from .store_schema import ResultRecord, RunRecord

CHUNK = 1 << 20
"""Bytes of a log file read (and sent as one output event) at a time."""

GONE_GROUP = "(not in the build file now)"


def task_info(name: str, task: Task | None, *, target: bool) -> TaskInfo:
    """What frontends show about a task; `task` None when the build file no longer has it."""
    if task is None:
        return TaskInfo(name=name, base=name, group=GONE_GROUP, deps=(), target=target)
    return task.info(target=target)


def _state(result: ResultRecord, run: RunRecord) -> tuple[TaskState, str | None]:
    """The record's state as a final TaskState, and the reason to show with it."""
    try:
        state = TaskState(result.state)
    except ValueError:  # "interrupted": the store's word for a task whose tuibuild was killed
        return TaskState.CANCELLED, result.reason or result.state
    if state.finished:
        return state, result.reason
    if run.outcome is None:
        return TaskState.CANCELLED, f"{state} when looked at: the run is still going"
    return TaskState.CANCELLED, f"never finished (last seen {state})"


def _failure(result: ResultRecord) -> Failure | None:
    if result.failure_kind is None and result.message is None:
        return None
    try:
        kind = FailureKind(result.failure_kind or "error")
    except ValueError:
        kind = FailureKind.ERROR
    return Failure(
        kind=kind,
        message=result.message or str(kind),
        exit_code=result.exit_code,
        signal=result.signal,
    )


def _log_output(task: str, path: Path, at: float) -> Iterator[TaskOutput]:
    """The log file as output events of at most :data:`CHUNK` bytes, decoded as the runner does."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    with path.open("rb") as log:
        while chunk := log.read(CHUNK):
            text = decoder.decode(chunk)
            if text:
                yield TaskOutput(task, Stream.STDOUT, text, at)
    tail = decoder.decode(b"", final=True)
    if tail:
        yield TaskOutput(task, Stream.STDOUT, tail, at)


def run_events(
    run: RunRecord,
    results: list[ResultRecord],
    tasks: Mapping[str, Task],
    build_file: str,
) -> Iterator[Event]:
    """The events of a recorded run, in the order they happened (tasks by start time).

    Args:
        run: The run, from the store.
        results: Its task records (:meth:`~.store.Store.results`).
        tasks: The current build file's tasks by name (may lack some the run had).
        build_file: Shown as the run's build file.
    """
    targets = set(run.targets)
    infos = tuple(task_info(r.task, tasks.get(r.task), target=r.task in targets) for r in results)
    yield BuildStarted(
        run_id=run.id,
        build_file=build_file,
        targets=tuple(run.targets),
        tasks=infos,
        jobs=0,
        log_dir=run.log_dir or "",
        time=run.start,
    )
    last = run.start
    by_state: dict[str, int] = {}
    for result in sorted(results, key=lambda r: (r.start is None, r.start or 0.0)):
        state, reason = _state(result, run)
        by_state[state.value] = by_state.get(state.value, 0) + 1
        start = result.start if result.start is not None else run.start
        end = start + (result.duration or 0.0)
        last = max(last, end)
        log = Path(result.log_path) if result.log_path else None
        if result.start is not None:  # it ran: its start, its log, then its end
            yield TaskStateChanged(
                result.task,
                TaskState.RUNNING,
                TaskState.READY,
                start,
                log_path=result.log_path,
            )
            if log is not None and log.is_file():
                yield from _log_output(result.task, log, start)
            elif log is not None:
                note = f"[tuibuild: {log} is gone: only the most recent runs keep their logs]\n"
                yield TaskOutput(result.task, Stream.STDERR, note, start)
        yield TaskStateChanged(
            result.task,
            state,
            TaskState.RUNNING if result.start is not None else TaskState.PENDING,
            end,
            reason=reason,
            failure=_failure(result) if state is TaskState.FAILED else None,
            duration=result.duration,
            result=result.result,
            log_path=result.log_path,
        )
    end = run.end if run.end is not None else last
    yield BuildFinished(
        run_id=run.id,
        outcome=run.outcome or "interrupted",
        counts=by_state,
        time=end,
        elapsed=max(0.0, end - run.start),
    )
