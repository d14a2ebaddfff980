"""`tuibuild history [RUN]`, `tuibuild log TASK [--run RUN]` and `--failed`: the store, asked.

Everything here reads `.tuibuild/state.db` without the build lock (SQLite's WAL lets a reader
look while a build writes) and never needs the build file to parse: a build file with a mistake
in it must not hide what happened in the last run. The dashboard opens a past run through
:func:`load_run`.
"""

from __future__ import annotations

import argparse
import io
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

from .graph import Graph
from .spec import did_you_mean
from .store import ResultRecord, RunRecord, Store, StoreError, store_dir
from .symbols import format_duration

RERUN_STATES = frozenset({"failed", "cancelled", "blocked", "interrupted", "running"})
_COUNT_ORDER = ("succeeded", "failed", "cancelled", "blocked", "up-to-date", "interrupted")


def add_history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run",
        nargs="?",
        metavar="RUN",
        help="a run id (or a unique prefix, 'last', -2 for the one before)",
    )
    parser.add_argument("--limit", type=int, default=20, help="how many runs to list (default 20)")


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", metavar="TASK", help="the task whose full output to print")
    parser.add_argument(
        "--run",
        default=None,
        metavar="RUN",
        help="from this run (default: the last run that ran the task)",
    )


def open_store(build_file: Path) -> Store:
    """The store of a build file, for reading; StoreError when nothing was recorded yet."""
    directory = store_dir(build_file)
    store = Store.open_existing(directory)
    if store is None:
        raise StoreError(f"no runs recorded yet in {directory.parent} (run a build first)")
    return store


def load_run(build_file: Path, ref: str = "last") -> tuple[RunRecord, list[ResultRecord]]:
    """A past run and its task records (for the dashboard's read-only view). Raises StoreError."""
    store = open_store(build_file)
    try:
        run = store.find_run(ref)
        return run, store.results(run.id)
    finally:
        store.close()


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def _counts(counts: dict[str, int]) -> str:
    ordered = [s for s in _COUNT_ORDER if counts.get(s)] + sorted(
        s for s in counts if s not in _COUNT_ORDER and counts[s]
    )
    return ", ".join(f"{counts[s]} {s}" for s in ordered) or "-"


def _command(run: RunRecord) -> str:
    return " ".join(["tuibuild", *(shlex.quote(a) for a in run.argv)])


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        out.write("  ".join(cells).rstrip() + "\n")


def print_history(build_file: Path, ref: str | None, limit: int, out: TextIO = sys.stdout) -> int:
    """The recent runs as a table, or one run's tasks. Raises StoreError."""
    store = open_store(build_file)
    try:
        if ref is not None:
            run = store.find_run(ref)
            _print_run(run, store.results(run.id), store, out)
            return 0
        runs = store.runs(max(1, limit))
    finally:
        store.close()
    if not runs:
        out.write("no runs recorded yet\n")
        return 0
    rows = [("RUN", "STARTED", "TIME", "OUTCOME", "TASKS", "COMMAND")]
    for run in runs:
        rows.append(
            (
                run.id,
                _when(run.start),
                format_duration(run.duration) or "-",
                run.outcome or "running",
                _counts(run.counts),
                _command(run),
            )
        )
    _table(rows, out)
    return 0


def _print_run(run: RunRecord, results: list[ResultRecord], store: Store, out: TextIO) -> None:
    outcome = run.outcome or "running"
    took = f" in {format_duration(run.duration)}" if run.duration is not None else ""
    out.write(f"run {run.id}: {outcome}{took}, started {_when(run.start)}: {_command(run)}\n")
    if not results:
        if run.log_dir is None and run.tasks:
            out.write(f"nothing to do: all {run.tasks} tasks were up to date\n")
        elif not run.details:
            out.write(
                "per-task records of this run are no longer kept "
                "(only the most recent runs keep them; see [build] keep_runs)\n"
            )
        else:
            out.write("no task records\n")
        return
    rows = [("TASK", "STATE", "TIME", "EXIT", "DETAIL")]
    for r in results:
        if r.signal is not None:
            status = f"signal {r.signal}"
        elif r.exit_code is not None:
            status = f"exit {r.exit_code}"
        else:
            status = ""
        detail = r.message or (r.reason if r.state not in ("succeeded", "up-to-date") else "") or ""
        if r.result is not None:
            detail = f"returned {r.result}"
        rows.append((r.task, r.state, format_duration(r.duration) or "-", status, detail))
    _table(rows, out)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.state] = counts.get(r.state, 0) + 1
    out.write(f"{len(results)} tasks: {_counts(counts)}\n")


def print_log(build_file: Path, task: str, ref: str | None, out: TextIO = sys.stdout) -> int:
    """Copy the task's full log to `out` (a header on stderr). Raises StoreError."""
    store = open_store(build_file)
    try:
        run_id = store.find_run(ref).id if ref is not None else None
        records = [r for r in store.task_results(task, run_id) if r.log_path]
        if not records:
            raise StoreError(_no_log(store, task, run_id))
    finally:
        store.close()
    record = records[0]
    assert record.log_path is not None
    f: BinaryIO
    try:
        f = open(record.log_path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        if not Path(record.log_path).parent.is_dir():
            raise StoreError(_gone(task, record.run)) from None
        f = io.BytesIO()  # the task printed nothing, so it never created its log
    except OSError:
        raise StoreError(_gone(task, record.run)) from None
    took = f", {format_duration(record.duration)}" if record.duration is not None else ""
    print(
        f"── {task} · run {record.run} · {record.state}{took} · {record.log_path}", file=sys.stderr
    )
    out.flush()
    with f:
        buffer = getattr(out, "buffer", None)
        while chunk := f.read(1 << 16):
            if buffer is not None:
                buffer.write(chunk)
            else:
                out.write(chunk.decode("utf-8", "replace"))
    if buffer is not None:
        buffer.flush()
    return 0


def _gone(task: str, run: str) -> str:
    return (
        f"the log of {task} in run {run} is gone "
        "(only the most recent runs keep their logs; see [build] keep_runs)"
    )


def _no_log(store: Store, task: str, run_id: str | None) -> str:
    names = store.task_names()
    if task not in names:
        instances = [n for n in names if n.startswith(task + "[")]
        if instances:
            shown = ", ".join(instances[:5]) + (", ..." if len(instances) > 5 else "")
            return f"'{task}' has several instances; name one: {shown}"
        return f"no recorded run of task '{task}'{did_you_mean(task, names)}"
    where = f" in run {run_id}" if run_id else ""
    return f"task '{task}' did not run{where} (it was up to date, blocked or not selected)"


def failed_targets(graph: Graph, build_file: Path) -> tuple[str, list[str]]:
    """The last run's id and its failed, cancelled and blocked tasks plus what depends on them
    (among that run's tasks), in topological order. Raises StoreError."""
    store = open_store(build_file)
    try:
        runs = store.runs(1)
        if not runs:
            raise StoreError("no runs recorded yet (run a build first)")
        run = runs[0]
        results = store.results(run.id)
    finally:
        store.close()
    in_run = {r.task for r in results}
    wanted = {r.task for r in results if r.state in RERUN_STATES and r.task in graph.tasks}
    for name in list(wanted):
        wanted.update(n for n in graph.downstream(name) if n in in_run)
    return run.id, [n for n in graph.topological_order() if n in wanted]


def build_file_of(args: argparse.Namespace) -> Path:
    return Path(os.path.abspath(args.file))


def show_run(build_file: Path, ref: str, interactive: bool) -> int:
    """`tuibuild show [RUN]`: a past run in the dashboard, read-only; on a pipe, its table.

    The build file gives the tree its groups and dependencies; when it no longer parses, the
    run is still shown (a warning says why the tree is flat). Raises StoreError.
    """
    if not interactive:
        return print_history(build_file, ref, 20)
    store = open_store(build_file)
    try:
        run = store.find_run(ref)
        results = store.results(run.id)
        if not results and ref == "last":  # a no-op run: show the last one that ran something
            for earlier in store.runs(50):
                results = store.results(earlier.id)
                if results:
                    run = earlier
                    break
    finally:
        store.close()
    if not results:
        return print_history(build_file, run.id, 20)  # nothing to show but the explanation
    from .spec import BuildFileError, load_spec

    graph: Graph | None = None
    try:
        from .graph import build_graph

        graph = build_graph(load_spec(build_file))
    except (BuildFileError, OSError) as exc:
        print(f"tuibuild: warning: tasks shown without their dependencies: {exc}", file=sys.stderr)
    from .ui.launch import show_past_run

    return show_past_run(run, results, graph, str(build_file))
