"""The runner the CLI hands the engine: commands directly, callables on a pool of workers."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..events import Failure, FailureKind
from .base import Job, Outcome, OutputSink
from .command import CommandRunner

if TYPE_CHECKING:
    from .python import PythonRunner


class LocalRunner:
    """Runs commands directly and callables on a pool of at most `jobs` worker processes.

    The pool (and pickle, sockets, the worker protocol) is made at the first callable: a build
    of commands never imports it.
    """

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.commands = CommandRunner()
        self._callables: PythonRunner | None = None

    @property
    def callables(self) -> PythonRunner:
        if self._callables is None:
            from .python import PythonRunner

            self._callables = PythonRunner(self.jobs)
        return self._callables

    def accepts(self, job: Job) -> bool:
        return job.call is not None or self.commands.accepts(job)

    def queue(self, jobs: int, pause_on_failure: bool = False) -> bool:
        """See :meth:`CommandRunner.queue`: commands only, never callables."""
        return self.commands.queue(jobs, pause_on_failure)

    def resume(self) -> None:
        self.commands.resume()

    async def run(self, job: Job, sink: OutputSink) -> Outcome:
        if job.call is not None:
            return await self.callables.run(job, sink)
        if self.commands.accepts(job):
            return await self.commands.run(job, sink)
        return Outcome(Failure(FailureKind.ERROR, f"nothing to run for {job.task}"))

    async def close(self) -> None:
        if self._callables is None:
            await self.commands.close()
        else:
            await asyncio.gather(self.commands.close(), self._callables.close())
