"""Whether a task may be skipped, and why not: the design's "Up to date" rules in one place.

A task is up to date when its last run succeeded with the same fingerprint (argv or callable and
arguments, cwd, its env, its declared outputs), the same list of input files, none of those
inputs changed since (mtime and size, or content with `check = "hash"`), all of its outputs
exist, and no dependency actually ran in this build. :class:`Checker` is the engine's
:class:`~tui_build.engine.UpToDateChecker`; :func:`plan` answers `--dry-run` with the same
decisions, in the order the engine would start the tasks.

Input files are observed when the task is about to start (the engine calls :meth:`Checker.check`
then), and those observations are what a success records: an input changed while its task ran
makes the task run again next time.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .graph import Graph, Task, resolve_inputs, resolve_job, resolve_outputs
from .runners.base import Job
from .store import FingerprintRecord, Store

SKIP_REASON = "up to date"
_MAGIC = frozenset("*?[")
_ALWAYS = "always"
"""The status of a task that always runs (no inputs or outputs, `always = true`)."""


@dataclass
class Decision:
    """What the checker concluded about one task."""

    run: bool
    reason: str
    inputs: list[list[Any]] = field(default_factory=list)
    """[path, mtime_ns, size, sha256 or None] per input as observed now."""
    command: str = ""


def relative(path: Path, root: Path) -> str:
    """How paths are stored: relative to the build file's folder when inside it."""
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def file_hash(path: Path) -> str | None:
    """The SHA-256 of a regular file's content; None for a folder or an unreadable file."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


def command_key(task: Task, job: Job, root: Path, env_keys: Sequence[str]) -> str:
    """The fingerprint of what a task does: a change here means "command changed"."""
    own_env = {k: job.env.get(k) for k in sorted({*env_keys, *task.spec.env})}
    data = [
        task.kind,
        job.argv,
        job.shell_command,
        job.call,
        job.args,
        job.kwargs,
        relative(job.cwd, root),
        own_env,
        list(task.spec.outputs),
    ]
    text = json.dumps(data, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def always_runs(task: Task) -> str | None:
    """Why the task runs whatever the store says, or None."""
    if task.spec.always:
        return "always"
    if not task.spec.inputs and not task.spec.outputs:
        return "no inputs or outputs declared"
    return None


class Checker:
    """The store-backed up-to-date check the engine consults before starting each task."""

    def __init__(
        self,
        graph: Graph,
        store: Store | None = None,
        *,
        force: bool = False,
        known: Mapping[str, FingerprintRecord] | None = None,
    ) -> None:
        self.root = graph.spec.root
        self.env_keys = tuple(graph.spec.env)
        self.env_defaults = dict(graph.spec.env)
        self.store = store
        self.force = force
        self.known: dict[str, FingerprintRecord] = dict(
            known if known is not None else (store.fingerprints() if store else {})
        )
        self._starting: dict[str, Decision] = {}

    # -- the engine's protocol --------------------------------------------------------------

    def check(self, task: Task, job: Job, deps_ran: bool) -> str | None:
        decision = self.decide(task, job, deps_ran)
        if not decision.run:
            return decision.reason
        if task.spec.check == "hash":
            for item in decision.inputs:
                if item[3] is None and item[1] is not None:
                    item[3] = file_hash(self.root / item[0])
        self._starting[task.name] = decision
        return None

    def starting(self, task: Task) -> None:
        """The task is about to start: journal it, and observe its inputs if :meth:`check` did
        not (a forced re-run skips the check)."""
        if task.name not in self._starting:
            try:
                job = resolve_job(task, self.root, dict(self.env_defaults))
            except Exception:  # it cannot be prepared: the engine fails it right away
                job = None
            if job is not None:
                self._starting[task.name] = self.decide(task, job, False)
        if self.store is not None and self._journaled(task):
            self.store.journal_start(task.name)

    def _journaled(self, task: Task) -> bool:
        """Whether the task's start must be journaled: only so that a kill -9 cannot leave a
        success recorded before it counting. A task that always runs and has none counts
        nothing whatever happens (two writes saved per task of a build of `true`s)."""
        return always_runs(task) is None or self._has_success(task.name)

    def _has_success(self, name: str) -> bool:
        old = self.known.get(name)
        return old is not None and old.status == "ok"

    def succeeded(self, task: Task, job: Job) -> None:
        decision = self._starting.pop(task.name, None)
        if always_runs(task) is not None:
            # Nothing to remember; only a success recorded before the task became one that
            # always runs must stop counting, should it stop being one.
            if self._has_success(task.name):
                self._mark(task.name, _ALWAYS)
            return
        if decision is None:  # run without starting() (an engine with no session)
            decision = self.decide(task, job, False)
        outputs = [relative(p, self.root) for p in resolve_outputs(task, self.root)]
        record = FingerprintRecord("ok", decision.command, decision.inputs, outputs)
        self.known[task.name] = record
        if self.store is not None:
            self.store.put_fingerprint(task.name, record)
            self.store.journal_done(task.name)

    def invalidate(self, task: Task) -> None:
        self._starting.pop(task.name, None)
        self._mark(task.name, "failed")

    def mark(self, name: str, status: str) -> None:
        """Record why a task is not up to date ("failed", "cancelled", "interrupted")."""
        self._mark(name, status)

    def _mark(self, name: str, status: str) -> None:
        old = self.known.get(name)
        self.known[name] = FingerprintRecord(
            status,
            old.command if old else "",
            old.inputs if old else [],
            old.outputs if old else [],
        )
        if self.store is not None:
            self.store.set_status(name, status)
            self.store.journal_done(name)

    # -- the rules --------------------------------------------------------------------------

    def decide(self, task: Task, job: Job, deps_ran: bool | str) -> Decision:
        """Run or skip, and why. `deps_ran` may name the dependency that runs (for dry runs)."""
        fixed = always_runs(task)
        if fixed is not None:
            # No fingerprint either: it would never be read (the task runs anyway).
            return Decision(True, fixed, [], "")
        command = command_key(task, job, self.root, self.env_keys)
        inputs = self.observe_inputs(task)
        decision = Decision(True, "", inputs, command)
        if self.force:
            decision.reason = "forced"
            return decision
        old = self.known.get(task.name)
        if old is None or old.status == _ALWAYS:
            decision.reason = "never succeeded"
            return decision
        if old.status != "ok":
            status = "interrupted" if old.status == "running" else old.status
            decision.reason = f"{status} last time"
            return decision
        reason = self._compare_inputs(task, old.inputs, inputs)
        if reason is None and old.command != command:
            reason = "command changed"
        if reason is None:
            reason = self._missing_output(task)
        if reason is None and deps_ran:
            reason = (
                f"dependency will run: {deps_ran}"
                if isinstance(deps_ran, str)
                else "dependency ran"
            )
        if reason is not None:
            decision.reason = reason
            return decision
        decision.run = False
        decision.reason = SKIP_REASON
        if old.inputs != inputs and self.store is not None:
            # Hash mode: same content, new mtime. Remember the new stats so the next check is
            # a stat again, not a hash.
            refreshed = FingerprintRecord("ok", command, inputs, old.outputs)
            self.known[task.name] = refreshed
            self.store.put_fingerprint(task.name, refreshed)
        return decision

    def observe_inputs(self, task: Task) -> list[list[Any]]:
        """The task's input files now, with their mtime and size (None when missing)."""
        result: list[list[Any]] = []
        for path in resolve_inputs(task, self.root):
            try:
                st = os.stat(path)
            except OSError:
                result.append([relative(path, self.root), None, None, None])
                continue
            result.append([relative(path, self.root), st.st_mtime_ns, st.st_size, None])
        return result

    def _compare_inputs(self, task: Task, old: list[list[Any]], new: list[list[Any]]) -> str | None:
        old_paths = [item[0] for item in old]
        new_paths = [item[0] for item in new]
        if old_paths != new_paths:
            added = [p for p in new_paths if p not in set(old_paths)]
            if added:
                return f"input added: {added[0]}"
            removed = [p for p in old_paths if p not in set(new_paths)]
            if removed:
                return f"input removed: {removed[0]}"
            return "inputs reordered"
        hashing = task.spec.check == "hash"
        for before, now in zip(old, new, strict=True):
            if before[1] == now[1] and before[2] == now[2]:
                now[3] = before[3]
                continue
            if now[1] is None:
                return f"input missing: {now[0]}"
            if hashing and before[3] is not None:
                now[3] = file_hash(self.root / now[0])
                if now[3] == before[3]:
                    continue
            return f"input changed: {now[0]}"
        return None

    def _missing_output(self, task: Task) -> str | None:
        from . import placeholders
        from .graph import _glob

        for pattern in task.spec.outputs:
            expanded = placeholders.expand(pattern, task.params)
            if _MAGIC & set(expanded):
                if not _glob(expanded, self.root):
                    return f"output missing: {expanded}"
            elif not os.path.lexists(self.root / expanded):
                return f"output missing: {expanded}"
        return None


# -- dry runs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedTask:
    name: str
    run: bool
    reason: str


def plan(
    graph: Graph,
    checker: Checker,
    weights: Mapping[str, float] | None = None,
    env: Mapping[str, str] | None = None,
) -> list[PlannedTask]:
    """Every task with its decision, in the order the engine would start them.

    Inputs are globbed now: a dependency that will run may still change them, which is why its
    dependents say "dependency will run".
    """
    base = dict(os.environ if env is None else env)
    base.update(graph.spec.env)
    base["PYTHONUNBUFFERED"] = "1"
    names = graph.topological_order()
    index = {name: i for i, name in enumerate(names)}
    priority = graph.remaining_path(weights)
    unmet = {name: len(graph.tasks[name].deps) for name in names}
    ready = [(-priority[n], index[n], n) for n in names if unmet[n] == 0]
    heapq.heapify(ready)
    runs: set[str] = set()
    result: list[PlannedTask] = []
    while ready:
        name = heapq.heappop(ready)[2]
        task = graph.tasks[name]
        ran = next((d for d in task.deps if d in runs), None)
        if task.kind == "none":
            entry = PlannedTask(name, ran is not None, f"dependency will run: {ran}")
        else:
            try:
                job = resolve_job(task, graph.spec.root, base)
            except Exception as exc:
                entry = PlannedTask(name, True, f"cannot prepare the task: {exc}")
            else:
                decision = checker.decide(task, job, ran or False)
                entry = PlannedTask(name, decision.run, decision.reason)
        if entry.run:
            runs.add(name)
        result.append(entry)
        for dependent in graph.dependents(name):
            unmet[dependent] -= 1
            if unmet[dependent] == 0:
                heapq.heappush(ready, (-priority[dependent], index[dependent], dependent))
    return result


def nothing_to_do(total: int) -> str:
    return f"Nothing to do: all {total} task{'s' if total != 1 else ''} up to date"


def print_plan(entries: Sequence[PlannedTask], graph: Graph) -> None:
    """The `--dry-run` listing: what would run and why, in order."""
    running = [e for e in entries if e.run and graph.tasks[e.name].kind != "none"]
    if not any(e.run for e in entries):
        print(nothing_to_do(len(entries)))
        return
    width = min(60, max((len(e.name) for e in running), default=0))
    print(f"would run {len(running)} of {len(entries)} tasks:")
    for entry in running:
        print(f"  {entry.name:<{width}}  {entry.reason}")
    skipped = sum(1 for e in entries if not e.run)
    if skipped:
        print(f"{skipped} up to date")
    aggregates = [e.name for e in entries if e.run and graph.tasks[e.name].kind == "none"]
    if aggregates:  # counted in the total, so say where they went
        shown = ", ".join(aggregates[:5]) + (" …" if len(aggregates) > 5 else "")
        print(f"{len(aggregates)} with nothing to run of their own: {shown}")
