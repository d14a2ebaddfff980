"""Headless output for GitHub Actions: collapsible groups, annotations, no command injection.

The console's blocks, with what a GitHub log needs on top:

- every finished task's block is a `::group::NAME (state, duration)` — except a failed task's,
  which is printed open: a collapsed log must still show what broke (Turborepo's groups hide it,
  vercel/turborepo#6709); the summary's failures come last, outside any group, as in the console;
- one `::error title=...::` per failed task, then the compiler-style diagnostics found in the
  failed tasks' output (see :mod:`.annotations`) as `::error file=,line=,col=::` /
  `::warning ...::`, paths made relative to the repository, de-duplicated, capped at GitHub's
  per-step limit (10 errors, 10 warnings) with a notice saying how many were left out;
- task output is wrapped in `::stop-commands::TOKEN` … `::TOKEN::` with a fresh random token, so
  a task that prints `::error::` or `::add-mask::` cannot speak to the runner.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from ..events import BuildStarted, Event, RunSummary, TaskRecord, TaskState, TaskStateChanged
from ..symbols import format_duration
from .annotations import Annotation, parse_annotations
from .console import ConsoleReporter

__all__ = ["GitHubReporter", "escape_data", "escape_property", "workflow_command"]

MAX_PER_SEVERITY = 10
"""GitHub shows at most 10 error and 10 warning annotations per step."""


def escape_data(value: str) -> str:
    """The message part of a workflow command, escaped as the runner expects."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """A `key=value` property of a workflow command: `:` and `,` are separators there."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def workflow_command(name: str, message: str = "", **properties: object) -> str:
    """`::name key=value,...::message` with everything escaped; None properties are left out."""
    shown = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in properties.items()
        if value is not None and value != ""
    )
    return f"::{name}{' ' + shown if shown else ''}::{escape_data(message)}"


class GitHubReporter(ConsoleReporter):
    """The console reporter, speaking GitHub Actions' workflow commands."""

    def __init__(
        self,
        out: TextIO,
        *,
        environ: Mapping[str, str] | None = None,
        task_dirs: Mapping[str, Path] | None = None,
        max_per_severity: int = MAX_PER_SEVERITY,
        token: Callable[[], str] = lambda: secrets.token_hex(16),
        **options: Any,
    ) -> None:
        super().__init__(out, **options)
        env = os.environ if environ is None else environ
        self._workspace_env = env.get("GITHUB_WORKSPACE") or None
        self.task_dirs = dict(task_dirs or {})
        self.max_per_severity = max_per_severity
        self._token = token
        self._open_token: str | None = None
        self._root = Path.cwd()

    @property
    def workspace(self) -> Path:
        """Where annotation paths are relative to: the checkout, else the build file's folder."""
        return Path(self._workspace_env) if self._workspace_env else self._root

    def __call__(self, event: Event) -> None:
        if isinstance(event, BuildStarted) and event.build_file:
            self._root = Path(event.build_file).parent
        super().__call__(event)

    # -- blocks -----------------------------------------------------------------------------

    def begin_block(self, event: TaskStateChanged) -> None:
        if event.state is TaskState.FAILED:
            # Never collapsed: the failure must be readable without a click.
            super().begin_block(event)
            return
        detail = str(event.state)
        if event.duration is not None:
            detail += f", {format_duration(event.duration)}"
        self._write(workflow_command("group", f"{event.task} ({detail})") + "\n")

    def end_block(self, event: TaskStateChanged) -> None:
        if event.state is not TaskState.FAILED:
            self._write("::endgroup::\n")

    def begin_output(self, event: TaskStateChanged) -> None:
        self._open_token = self._token()
        self._write(f"::stop-commands::{self._open_token}\n")

    def end_output(self, event: TaskStateChanged) -> None:
        if self._open_token is not None:
            self._write(f"::{self._open_token}::\n")
            self._open_token = None

    # -- annotations ------------------------------------------------------------------------

    def before_failures(self, summary: RunSummary) -> None:
        for line in self.annotation_commands(summary):
            self._write(line + "\n")

    def annotation_commands(self, summary: RunSummary) -> list[str]:
        """The `::error` / `::warning` / `::notice` lines for a finished build, capped."""
        failed = summary.failures
        if not failed:
            return []
        lines: list[str] = []
        used = {"error": 0, "warning": 0}
        left_out = {"error": 0, "warning": 0}
        for record in failed:
            message = record.failure.message if record.failure else "failed"
            title = f"{record.info.name} failed"
            if used["error"] < self.max_per_severity:
                lines.append(workflow_command("error", message, title=title))
                used["error"] += 1
            else:
                left_out["error"] += 1
        seen: set[tuple[str, str, int | None, int | None, str]] = set()
        for record, annotation in self._diagnostics(failed):
            path = self._relative(annotation.path, record)
            key = (
                annotation.severity,
                path or annotation.path,
                annotation.line,
                annotation.col,
                annotation.message,
            )
            if key in seen:
                continue
            seen.add(key)
            severity = annotation.severity
            if used[severity] >= self.max_per_severity:
                left_out[severity] += 1
                continue
            used[severity] += 1
            lines.append(self._annotation(record, annotation, path))
        if left_out["error"] or left_out["warning"]:
            parts = [f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in left_out.items() if n]
            note = (
                f"{' and '.join(parts)} not annotated: GitHub shows at most "
                f"{self.max_per_severity} errors and {self.max_per_severity} warnings per step. "
                "Every one is in the output above."
            )
            lines.append(workflow_command("notice", note, title="tuibuild: more diagnostics"))
        return lines

    def _diagnostics(self, failed: list[TaskRecord]) -> Iterator[tuple[TaskRecord, Annotation]]:
        for record in failed:
            if not record.log_path:
                continue
            try:
                f = open(record.log_path, encoding="utf-8", errors="replace")  # noqa: SIM115
            except OSError:
                continue
            with f:
                for annotation in parse_annotations(f):
                    yield record, annotation

    def _task_dir(self, record: TaskRecord) -> Path:
        return self.task_dirs.get(record.info.name, self._root)

    def _relative(self, path: str, record: TaskRecord) -> str | None:
        """`path` relative to the workspace, '/'-separated; None when it lies outside."""
        if path.startswith("<"):  # <stdin>, <string>
            return None
        full = Path(os.path.normpath(self._task_dir(record) / path))
        workspace = self.workspace
        for candidate, base in ((full, workspace), (full.resolve(), workspace.resolve())):
            try:
                return candidate.relative_to(base).as_posix()
            except ValueError:
                continue
        return None

    def _annotation(self, record: TaskRecord, annotation: Annotation, path: str | None) -> str:
        label = annotation.title or annotation.code
        title = f"{record.info.name}: {label}" if label else record.info.name
        if path is None:
            # Outside the repository (a system header): GitHub cannot pin it, so say where.
            where = annotation.path
            if annotation.line is not None:
                where += f":{annotation.line}"
            return workflow_command(
                annotation.severity, f"{where}: {annotation.message}", title=title
            )
        return workflow_command(
            annotation.severity,
            annotation.message,
            file=path,
            line=annotation.line,
            col=annotation.col,
            title=title,
        )
