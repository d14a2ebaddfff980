"""The one small protocol between the engine and whatever does the work.

The engine decides what runs next; a runner starts it, streams its output, samples its resources
and kills it. A local backend (subprocesses, a pool of Python workers) and a distributed one
(later) implement the same three things: :class:`Job` in, bytes and samples out through an
:class:`OutputSink`, an :class:`Outcome` back. Cancellation is asyncio's own: the engine cancels
the asyncio task awaiting :meth:`Runner.run`, and the runner must kill everything it started
(the whole process tree) before letting :class:`asyncio.CancelledError` propagate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..events import Failure, Stream


@dataclass(frozen=True)
class Job:
    """One task, resolved: every placeholder expanded, every path absolute."""

    task: str
    cwd: Path
    env: Mapping[str, str]
    """The complete environment of the child (the engine merges it onto its own)."""
    argv: tuple[str, ...] | None = None
    """A command run without a shell."""
    shell_command: str | None = None
    """A command run by `/bin/sh -c` (`shell = true`)."""
    call: str | None = None
    """A Python callable, `module:function`, importable from `root`."""
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    root: Path = Path(".")
    """The build file's folder: callables import from here."""


class OutputSink(Protocol):
    """Where a runner reports what happens while a job runs. Called on the engine's loop."""

    def started(self, pid: int | None) -> None:
        """The job's process (or worker) is up."""

    def output(self, stream: Stream, data: bytes) -> None:
        """Raw bytes the job wrote, in the order they were read; any chunk boundaries."""

    def sample(self, cpu_percent: float, rss_bytes: int, processes: int) -> None:
        """CPU and memory of the job's whole process tree, about once a second."""


@dataclass(frozen=True)
class Outcome:
    """How a job ended. `failure` is None when it succeeded."""

    failure: Failure | None = None
    result: str | None = None
    """A callable's return value (its repr, shortened), when it returned something."""

    @property
    def ok(self) -> bool:
        return self.failure is None


class Runner(Protocol):
    """Runs jobs. Must be safe to call concurrently for different jobs."""

    def accepts(self, job: Job) -> bool:
        """True when this runner can run the job (a command, a callable)."""

    async def run(self, job: Job, sink: OutputSink) -> Outcome:
        """Run the job to its end, or until cancelled (then kill it all and re-raise)."""

    async def close(self) -> None:
        """Stop every worker and process this runner still holds."""
