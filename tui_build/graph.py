"""The task graph: a :class:`BuildSpec` expanded into concrete tasks, and questions about it.

:func:`build_graph` turns each `foreach` / `matrix` table into its instances, resolves
dependencies to instance names and rejects unknown dependencies, cycles and bad placeholders
while the user can still be pointed at a line of the build file. :class:`Graph` answers what the
engine and the frontends ask: target selection, subtrees, dependents, a topological order and
the remaining (critical) path used as scheduling priority. :func:`resolve_job` turns a task into
the :class:`Job` a runner executes, globbing its inputs only when it is about to run.

Beyond globbing, nothing here touches the file system.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from . import placeholders
from .events import TaskInfo
from .runners.base import Job
from .spec import BuildFileError, BuildSpec, TaskSpec, did_you_mean

__all__ = [
    "Graph",
    "Task",
    "UnknownTargetError",
    "build_graph",
    "resolve_inputs",
    "resolve_job",
    "resolve_outputs",
]

_MAGIC = re.compile(r"[*?[]")


class UnknownTargetError(BuildFileError):
    """A target named on the command line (or in `[build].default`) is not a task."""


@dataclass(frozen=True)
class Task:
    """One concrete task: a plain table, or one instance of a `foreach` / `matrix` table."""

    name: str
    """Instance name: `compile[src/a.c]`, `docs[edition=web,lang=en]`, else the table name."""
    base: str
    """The table name."""
    spec: TaskSpec
    params: Mapping[str, str]
    """Placeholder values of this instance: `input`, `stem`, `name` and the matrix keys."""
    deps: tuple[str, ...]
    """Instance names."""
    group: str
    pool: str | None
    description: str | None

    @property
    def kind(self) -> str:
        """ "cmd", "call" or "none" (an aggregate)."""
        if self.spec.cmd is not None:
            return "cmd"
        if self.spec.call is not None:
            return "call"
        return "none"

    def info(self, *, target: bool) -> TaskInfo:
        """What frontends show about this task, fixed for a run."""
        return TaskInfo(
            name=self.name,
            base=self.base,
            group=self.group,
            deps=tuple(self.deps),
            description=self.description,
            kind=self.kind,
            command=self.command_text(),
            target=target,
        )

    def command_text(self) -> str:
        """The command as a user would type it; `{inputs}` and `{outputs}` are left as written."""
        values = {**self.params, **{name: f"{{{name}}}" for name in placeholders.RUNTIME}}
        cmd = self.spec.cmd
        if isinstance(cmd, str):
            return placeholders.expand(cmd, values)
        if cmd is not None:
            argv = [placeholders.expand(arg, values) for arg in cmd]
            kept = {f"{{{name}}}" for name in placeholders.RUNTIME}
            return " ".join(a if a in kept else shlex.quote(a) for a in argv)
        if self.spec.call is not None:
            args = placeholders.expand_value(self.spec.args, values, {})
            kwargs = placeholders.expand_value(self.spec.kwargs, values, {})
            shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
            return f"{self.spec.call}({', '.join(shown)})"
        return ""


class Graph:
    """Tasks and their dependencies; every dependency of a task is in the graph."""

    def __init__(
        self, spec: BuildSpec, tasks: Mapping[str, Task], targets: Sequence[str] | None = None
    ) -> None:
        self.spec = spec
        self.tasks: Mapping[str, Task] = dict(tasks)
        self.targets: tuple[str, ...] = tuple(self.tasks if targets is None else targets)
        self._dependents: dict[str, list[str]] = {name: [] for name in self.tasks}
        for task in self.tasks.values():
            for dep in task.deps:
                self._dependents[dep].append(task.name)
        self._order: list[str] | None = None

    def __repr__(self) -> str:
        return f"<Graph {len(self.tasks)} tasks, targets={list(self.targets)}>"

    def dependencies(self, name: str) -> tuple[str, ...]:
        return self.tasks[name].deps

    def dependents(self, name: str) -> tuple[str, ...]:
        """Tasks that depend directly on `name`, in declaration order."""
        return tuple(self._dependents[name])

    def subtree(self, name: str) -> list[str]:
        """The task and its transitive dependencies, dependencies first, ending with `name`."""
        return self._postorder([name])

    def downstream(self, name: str) -> list[str]:
        """Every task that depends on `name`, directly or not (in topological order)."""
        seen = {name}
        stack = [name]
        while stack:
            for dependent in self._dependents[stack.pop()]:
                if dependent not in seen:
                    seen.add(dependent)
                    stack.append(dependent)
        return [n for n in self.topological_order() if n in seen and n != name]

    def topological_order(self) -> list[str]:
        """Every task after its dependencies; otherwise as close to declaration order as can be."""
        if self._order is None:  # the graph does not change once made
            self._order = self._postorder(self.tasks)
        return list(self._order)

    def _postorder(self, roots: Iterable[str]) -> list[str]:
        order: list[str] = []
        done: set[str] = set()
        for root in roots:
            if root in done:
                continue
            stack: list[tuple[str, int]] = [(root, 0)]
            while stack:
                name, index = stack.pop()
                deps = self.tasks[name].deps
                if index < len(deps):
                    stack.append((name, index + 1))
                    if deps[index] not in done:
                        stack.append((deps[index], 0))
                elif name not in done:
                    done.add(name)
                    order.append(name)
        return order

    def remaining_path(self, weights: Mapping[str, float] | None = None) -> dict[str, float]:
        """For each task, the heaviest path from it to the end of the build through its
        dependents, its own weight included (1.0 for tasks missing from `weights`)."""
        weights = weights or {}
        result: dict[str, float] = {}
        for name in reversed(self.topological_order()):
            after = max((result[d] for d in self._dependents[name]), default=0.0)
            result[name] = weights.get(name, 1.0) + after
        return result

    def select(self, targets: Sequence[str]) -> Graph:
        """The part of the graph needed for `targets` (base or instance names).

        No targets means `[build].default`, or every task when there is none.
        """
        from_default = not targets and bool(self.spec.default)
        wanted = list(targets) or list(self.spec.default)
        if not wanted:
            return Graph(self.spec, self.tasks, list(self.tasks))
        by_base: dict[str, list[str]] = {}
        for task in self.tasks.values():
            by_base.setdefault(task.base, []).append(task.name)
        chosen: list[str] = []
        for target in wanted:
            names = by_base.get(target) or ([target] if target in self.tasks else [])
            if not names:
                candidates = self.tasks if "[" in target else by_base
                where = " in [build].default" if from_default else ""
                hint = did_you_mean(target, candidates)
                raise UnknownTargetError(f"unknown target '{target}'{where}{hint}")
            chosen.extend(n for n in names if n not in chosen)
        keep = set(self._postorder(chosen))
        return Graph(self.spec, {n: t for n, t in self.tasks.items() if n in keep}, chosen)


def build_graph(spec: BuildSpec) -> Graph:
    """Expand, resolve and check every task of `spec`. Raises :class:`BuildFileError`."""
    instances: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for task in spec.tasks.values():
        try:
            placeholders.check_task(task)
        except placeholders.PlaceholderError as error:
            raise spec.error(str(error), task) from None
        instances[task.name] = _expand(spec, task)
    by_name = {name: base for base, items in instances.items() for name, _ in items}
    tasks: dict[str, Task] = {}
    for base, items in instances.items():
        task_spec = spec.tasks[base]
        deps = _resolve_deps(spec, task_spec, instances, by_name)
        for name, params in items:
            tasks[name] = Task(
                name=name,
                base=base,
                spec=task_spec,
                params=params,
                deps=deps,
                group=placeholders.expand(task_spec.group, params),
                pool=task_spec.pool,
                description=(
                    None
                    if task_spec.description is None
                    else placeholders.expand(task_spec.description, params)
                ),
            )
    _check_cycles(spec, tasks)
    return Graph(spec, tasks)


def _expand(spec: BuildSpec, task: TaskSpec) -> list[tuple[str, dict[str, str]]]:
    """(instance name, params) for each instance of a task table."""
    if task.foreach:
        matches: list[str] = []
        for pattern in task.foreach:
            matches.extend(m for m in _glob(pattern, spec.root) if m not in matches)
        if not matches:
            shown = f"'{task.foreach[0]}'" if len(task.foreach) == 1 else list(task.foreach)
            raise spec.error(f"foreach {shown} matches no file", task)
        result = []
        for match in sorted(matches):
            name = f"{task.name}[{match}]"
            result.append((name, {"input": match, "stem": PurePosixPath(match).stem, "name": name}))
        return result
    if task.matrix:
        result = []
        for combination in itertools.product(*task.matrix.values()):
            params = dict(zip(task.matrix, combination, strict=True))
            name = f"{task.name}[{','.join(f'{k}={v}' for k, v in params.items())}]"
            result.append((name, {**params, "name": name}))
        return result
    return [(task.name, {"name": task.name})]


def _glob(pattern: str, root: Path) -> list[str]:
    """Files matching `pattern` under `root`, as globbed ('/'-separated), sorted."""
    found = glob.glob(pattern, root_dir=root, recursive=True)
    files = [m for m in found if os.path.isfile(os.path.join(root, m))]
    return sorted(m.replace(os.sep, "/") for m in files)


def _resolve_deps(
    spec: BuildSpec,
    task: TaskSpec,
    instances: Mapping[str, list[tuple[str, dict[str, str]]]],
    by_name: Mapping[str, str],
) -> tuple[str, ...]:
    deps: dict[str, None] = {}  # ordered, and `in` stays cheap for a task with 5,000 deps
    for dep in task.deps:
        if dep in instances:
            names = [name for name, _ in instances[dep]]
        elif dep in by_name:
            names = [dep]
        else:
            hint = did_you_mean(dep, by_name if "[" in dep else instances)
            raise spec.error(f"unknown dependency '{dep}'{hint}", task)
        deps.update(dict.fromkeys(names))
    return tuple(deps)


def _check_cycles(spec: BuildSpec, tasks: Mapping[str, Task]) -> None:
    """Raise with the actual cycle (`a -> b -> a`) if the dependencies have one."""
    order = {name: index for index, name in enumerate(tasks)}
    done: set[str] = set()
    for root in tasks:
        if root in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            name, index = stack.pop()
            if index == 0:
                path.append(name)
                on_path.add(name)
            deps = tasks[name].deps
            if index < len(deps):
                stack.append((name, index + 1))
                dep = deps[index]
                if dep in on_path:
                    cycle = path[path.index(dep) :]
                    start = min(range(len(cycle)), key=lambda i: order[cycle[i]])
                    cycle = cycle[start:] + cycle[:start]
                    chain = " -> ".join([*cycle, cycle[0]])
                    error = spec.error(f"dependency cycle: {chain}")
                    error.line = tasks[cycle[0]].spec.line
                    raise error
                if dep not in done:
                    stack.append((dep, 0))
            else:
                done.add(name)
                on_path.discard(name)
                path.pop()


def _files(patterns: Iterable[str], task: Task, root: Path) -> list[Path]:
    result: list[Path] = []
    seen: set[Path] = set()
    for pattern in patterns:
        expanded = placeholders.expand(pattern, task.params)
        found = _glob(expanded, root) if _MAGIC.search(expanded) else [expanded]
        for match in found:
            path = Path(os.path.normpath(os.path.join(root, match)))
            if path not in seen:
                seen.add(path)
                result.append(path)
    return result


def resolve_inputs(task: Task, root: Path) -> list[Path]:
    """The task's input files now: globs expanded (each sorted), duplicates dropped, absolute.

    Patterns keep their declared order (a linker cares); a literal path that does not exist is
    kept, for the up-to-date check to report.
    """
    return _files(task.spec.inputs, task, root)


def resolve_outputs(task: Task, root: Path) -> list[Path]:
    """The task's output files, as :func:`resolve_inputs`."""
    return _files(task.spec.outputs, task, root)


def _shown(paths: Iterable[Path], root: Path) -> list[str]:
    return [(p.relative_to(root) if p.is_relative_to(root) else p).as_posix() for p in paths]


def resolve_job(task: Task, root: Path, env: Mapping[str, str]) -> Job:
    """The :class:`Job` for `task`, its inputs and outputs globbed now.

    `env` is the complete environment for the child; the task's own `env` goes on top (a task
    without one shares `env` itself: nothing may change a job's environment).
    """
    spec = task.spec
    lists = {
        "inputs": _shown(resolve_inputs(task, root), root),
        "outputs": _shown(resolve_outputs(task, root), root),
    }
    quote = shlex.quote if spec.shell else str
    values = {**task.params, **{k: " ".join(quote(p) for p in v) for k, v in lists.items()}}
    child_env = env
    if spec.env:
        child_env = {**env, **{k: placeholders.expand(v, values) for k, v in spec.env.items()}}
    cwd = root if spec.cwd is None else root / placeholders.expand(spec.cwd, task.params)
    argv: tuple[str, ...] | None = None
    shell_command: str | None = None
    if isinstance(spec.cmd, str):
        shell_command = placeholders.expand(spec.cmd, values)
    elif spec.cmd is not None:
        argv = tuple(placeholders.expand_value(spec.cmd, values, lists))
    args: Any = placeholders.expand_value(spec.args, values, lists) if spec.args else ()
    kwargs: Any = placeholders.expand_value(spec.kwargs, values, lists) if spec.kwargs else {}
    return Job(
        task=task.name,
        cwd=cwd,
        env=child_env,
        argv=argv,
        shell_command=shell_command,
        call=spec.call,
        args=tuple(args),
        kwargs=kwargs,
        timeout=spec.timeout,
        root=root,
    )
