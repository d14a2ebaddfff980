"""The runner the CLI hands the engine: commands directly, callables on a pool of workers."""

from __future__ import annotations

import asyncio

from ..events import Failure, FailureKind
from .base import Job, Outcome, OutputSink
from .command import CommandRunner
from .python import PythonRunner


class LocalRunner:
    """Runs commands directly and callables on a pool of at most `jobs` worker processes."""

    def __init__(self, jobs: int) -> None:
        self.commands = CommandRunner()
        self.callables = PythonRunner(jobs)

    def accepts(self, job: Job) -> bool:
        return self.callables.accepts(job) or self.commands.accepts(job)

    def queue(self, jobs: int, pause_on_failure: bool = False) -> bool:
        """See :meth:`CommandRunner.queue`: commands only, never callables."""
        return self.commands.queue(jobs, pause_on_failure)

    def resume(self) -> None:
        self.commands.resume()

    async def run(self, job: Job, sink: OutputSink) -> Outcome:
        if self.callables.accepts(job):
            return await self.callables.run(job, sink)
        if self.commands.accepts(job):
            return await self.commands.run(job, sink)
        return Outcome(Failure(FailureKind.ERROR, f"nothing to run for {job.task}"))

    async def close(self) -> None:
        await asyncio.gather(self.commands.close(), self.callables.close())
