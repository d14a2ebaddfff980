"""build.toml -> a validated :class:`BuildSpec`, or one clear error that points at `file:line`.

This is the only module that reads the build file. Everything a user can get wrong in it (syntax,
unknown keys, wrong types, bad `extends`, duplicate names) is caught here and raised as a
:class:`BuildFileError` naming the file, the line of the task's table and the task, with a "did
you mean" where one fits, so the rest of tuibuild can trust the spec it is given.
Expansion of `foreach` / `matrix`, dependencies and placeholders are checked in :mod:`.graph`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from . import spec_keys
from .tomllines import Lines, parse_simple, scan

__all__ = [
    "BuildFileError",
    "BuildSpec",
    "TaskSpec",
    "did_you_mean",
    "load_spec",
    "parse_spec",
]


class BuildFileError(Exception):
    """A mistake in the build file, with where it is: `build.toml:12: task 'compile': ...`."""

    def __init__(
        self,
        message: str,
        path: Path | str | None = None,
        line: int | None = None,
        task: str | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.task = task
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [str(self.path)] if self.path is not None else []
        if self.line is not None:
            where.append(str(self.line) if where else f"line {self.line}")
            if self.column is not None:
                where.append(str(self.column))
        prefix = ":".join(where) + ": " if where else ""
        subject = f"task '{self.task}': " if self.task else ""
        return f"{prefix}{subject}{self.message}"


@dataclass(frozen=True)
class TaskSpec:
    """One `[tasks.NAME]` table, after `extends` and validation. See the design for each key."""

    name: str
    line: int
    """Line of the task's table header in the build file (1-based)."""
    cmd: tuple[str, ...] | str | None = None
    """An argv list, or one string run by `/bin/sh -c` (only with `shell = true`)."""
    call: str | None = None
    """A Python callable, `module:function`."""
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    deps: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    foreach: tuple[str, ...] = ()
    """Globs: one instance of the task per matching file."""
    matrix: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """One instance per combination of values (keys in declaration order)."""
    group: str = ""
    pool: str | None = None
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    shell: bool = False
    timeout: float | None = None
    always: bool = False
    check: str = "mtime"
    description: str | None = None
    extends: str | None = None


@dataclass(frozen=True)
class BuildSpec:
    """The whole build file, validated."""

    path: Path
    """Absolute path of the build file."""
    root: Path
    """Its folder: globs, `cwd` and callables are relative to it."""
    default: tuple[str, ...] = ()
    jobs: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    keep_runs: int = 20
    """How many runs keep their logs."""
    stall_after: float = 60.0
    """Seconds without output before a running task is marked possibly stalled."""
    pools: Mapping[str, int] = field(default_factory=dict)
    tasks: Mapping[str, TaskSpec] = field(default_factory=dict)
    """In declaration order."""
    display_path: str = ""
    """The build file as the user named it (relative if given relative), for messages."""

    def error(self, message: str, task: TaskSpec | None = None) -> BuildFileError:
        """An error at a task's line (or at no line), with the file as the user named it."""
        line = task.line if task is not None else None
        name = task.name if task is not None else None
        return BuildFileError(message, self.display_path or str(self.path), line, name)


TASK_KEYS = tuple(f.name for f in fields(TaskSpec) if f.name not in ("name", "line"))
_TOP_KEYS = ("build", "pools", "templates", "tasks")
_BUILD_KEYS = ("default", "jobs", "env", "keep_runs", "stall_after")
_NAME = re.compile(r"[\w./-]+")
_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`" (did you mean 'x'?)"` for the closest candidate, or `""` when none is close."""
    import difflib  # only error messages need it

    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def load_spec(path: Path | str) -> BuildSpec:
    """Read and validate a build file. Raises :class:`BuildFileError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise BuildFileError(f"cannot read build file: not UTF-8 ({error.reason})", path) from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise BuildFileError(f"cannot read build file: {reason}", path) from None
    return parse_spec(text, path)


def parse_spec(text: str, path: Path | str) -> BuildSpec:
    """Validate the text of a build file; `path` is shown in errors as given."""
    return _Parser(text, path).parse()


class _Parser:
    def __init__(self, text: str, path: Path | str) -> None:
        self.text = text
        self.path = path
        simple = parse_simple(text)
        self.data: dict[str, Any] | None = None
        """The document when the fast path read it; else `load_toml` asks `tomllib`."""
        if simple is None:
            self.lines: Lines = scan(text)
        else:
            self.data, self.lines = simple

    def error(
        self, message: str, *where: str, task: str | None = None, line: int | None = None
    ) -> BuildFileError:
        return BuildFileError(message, self.path, line or self.lines.of(*where), task)

    def parse(self) -> BuildSpec:
        for (kind, name), first, second in self.lines.duplicates:
            noun = "task" if kind == "tasks" else "template"
            raise self.error(
                f"{noun} '{name}' is defined twice (lines {first} and {second})", line=second
            )
        data = self.load_toml()
        for key, value in data.items():
            if key not in _TOP_KEYS:
                hint = did_you_mean(key, _TOP_KEYS)
                raise self.error(f"unknown top-level key '{key}'{hint}", key)
            if not isinstance(value, dict):
                raise self.error(f"'{key}' must be a table, got {spec_keys.type_name(value)}", key)
        build: dict[str, Any] = data.get("build", {})
        pools = self.parse_pools(data.get("pools", {}))
        templates = self.raw_tables(data.get("templates", {}), "templates")
        tasks = self.raw_tables(data.get("tasks", {}), "tasks")
        for name in tasks:
            self.check_name(name)
        resolved = _Extends(self, templates, tasks)
        specs = {name: self.make_task(name, resolved.get("tasks", name), pools) for name in tasks}
        absolute = Path(os.path.abspath(self.path))
        return BuildSpec(
            path=absolute,
            root=absolute.parent,
            pools=pools,
            tasks=specs,
            display_path=str(self.path),
            **self.parse_build(build, specs),
        )

    def load_toml(self) -> dict[str, Any]:
        if self.data is not None:
            return self.data
        # Imported here: most build files never need it (see tomllines.parse_simple).
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        try:
            return tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as error:
            message = str(error)
            line: int | None = None
            column: int | None = None
            at = _TOML_AT.search(message)
            if at is not None:
                line, column = int(at.group(1)), int(at.group(2))
                message = message[: at.start()]
            elif _TOML_END.search(message):
                line = max(1, len(self.text.splitlines()))
                message = _TOML_END.sub("", message)
            message = message[:1].lower() + message[1:]
            raise BuildFileError(
                f"invalid TOML: {message}", self.path, line, column=column
            ) from None

    def parse_build(self, build: dict[str, Any], tasks: Mapping[str, TaskSpec]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in build.items():
            if key not in _BUILD_KEYS:
                hint = did_you_mean(key, _BUILD_KEYS)
                raise self.error(f"unknown key '{key}' in [build]{hint}", "build", key)
            try:
                result[key] = spec_keys.convert_build_key(key, value)
            except spec_keys.KeyTypeError as error:
                raise self.error(f"[build]: {error}", "build", key) from None
        for target in result.get("default", ()):
            base = target.split("[", 1)[0]
            if base not in tasks:
                hint = did_you_mean(base, tasks)
                raise self.error(
                    f"[build]: default target '{target}' is not a task{hint}", "build", "default"
                )
        return result

    def parse_pools(self, pools: dict[str, Any]) -> dict[str, int]:
        result: dict[str, int] = {}
        for name, size in pools.items():
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise self.error(
                    f"pool '{name}' must be an integer >= 1, got {spec_keys.describe(size)}",
                    "pools",
                    name,
                )
            result[name] = size
        return result

    def raw_tables(self, tables: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
        """Check each task's or template's own keys and types; return the converted values."""
        result: dict[str, dict[str, Any]] = {}
        for name, table in tables.items():
            task, prefix = (name, "") if kind == "tasks" else (None, f"template '{name}': ")
            if not isinstance(table, dict):
                raise self.error(
                    f"{prefix}must be a table, got {spec_keys.type_name(table)}",
                    kind,
                    name,
                    task=task,
                )
            converted: dict[str, Any] = {}
            for key, value in table.items():
                if key not in TASK_KEYS:
                    hint = did_you_mean(key, TASK_KEYS) or f" (known: {', '.join(TASK_KEYS)})"
                    raise self.error(f"{prefix}unknown key '{key}'{hint}", kind, name, task=task)
                try:
                    converted[key] = spec_keys.convert_task_key(key, value)
                except spec_keys.KeyTypeError as error:
                    raise self.error(f"{prefix}{error}", kind, name, task=task) from None
            result[name] = converted
        return result

    def check_name(self, name: str) -> None:
        reserved = sorted({c for c in name if c in "[],="})
        if reserved:
            chars = " ".join(f"'{c}'" for c in reserved)
            raise self.error(
                f"task name contains {chars}, reserved for foreach and matrix instances",
                "tasks",
                name,
                task=name,
            )
        if not _NAME.fullmatch(name):
            raise self.error(
                "task name may contain only letters, digits, '_', '-', '.' and '/'",
                "tasks",
                name,
                task=name,
            )

    def make_task(self, name: str, keys: dict[str, Any], pools: Mapping[str, int]) -> TaskSpec:
        line = self.lines.of("tasks", name)
        try:
            spec_keys.check_combination(keys)
        except spec_keys.KeyTypeError as error:
            raise self.error(str(error), line=line, task=name) from None
        pool = keys.get("pool")
        if pool is not None and pool not in pools:
            hint = did_you_mean(pool, pools)
            known = "" if hint or not pools else f" (pools: {', '.join(pools)})"
            missing = "" if pools else " ([pools] is empty)"
            raise self.error(f"unknown pool '{pool}'{hint}{known}{missing}", line=line, task=name)
        keys.setdefault("group", name)
        return TaskSpec(name=name, line=line, **keys)


class _Extends:
    """Resolves `extends` chains (templates first, then tasks), shallowly, key by key."""

    def __init__(
        self,
        parser: _Parser,
        templates: dict[str, dict[str, Any]],
        tasks: dict[str, dict[str, Any]],
    ) -> None:
        self.parser = parser
        self.tables = {"templates": templates, "tasks": tasks}
        self.done: dict[tuple[str, str], dict[str, Any]] = {}
        for name in templates:
            self.get("templates", name)

    def get(self, kind: str, name: str, chain: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
        node = (kind, name)
        if node in self.done:
            return dict(self.done[node])
        own = self.tables[kind][name]
        task = name if kind == "tasks" else None
        prefix = "" if task else f"template '{name}': "
        if node in chain:
            cycle = " -> ".join(n for _, n in (*chain[chain.index(node) :], node))
            raise self.parser.error(f"{prefix}extends cycle: {cycle}", kind, name, task=task)
        result: dict[str, Any] = {}
        parent = own.get("extends")
        if parent is not None:
            if parent in self.tables["templates"]:
                inherited = self.get("templates", parent, (*chain, node))
            elif parent in self.tables["tasks"]:
                inherited = self.get("tasks", parent, (*chain, node))
            else:
                hint = did_you_mean(parent, [*self.tables["templates"], *self.tables["tasks"]])
                raise self.parser.error(
                    f"{prefix}extends unknown template or task '{parent}'{hint}",
                    kind,
                    name,
                    task=task,
                )
            inherited.pop("extends", None)
            # What to run is one choice: a task that says `call` replaces an inherited `cmd`
            # (and its `shell`), and one that says `cmd` replaces an inherited `call`.
            if "call" in own:
                for key in ("cmd", "shell"):
                    inherited.pop(key, None)
            if "cmd" in own:
                for key in ("call", "args", "kwargs"):
                    inherited.pop(key, None)
            result.update(inherited)
        result.update(own)
        self.done[node] = result
        return dict(result)
