"""Run a command (argv or `/bin/sh -c`) as a child in its own session, streaming both outputs.

The child writes into two pipes that tuibuild creates itself (:class:`OutputPipes`); their read
ends are asyncio read-pipe transports whose callbacks hand each raw chunk (up to 256 KiB) straight
to the sink. No line splitting and no StreamReader buffering on the way: a 170 MB stream goes
through at pipe speed and a multi-megabyte line is just several chunks. The Python worker pool
reads its tasks' output the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import signal
from collections.abc import Sequence
from pathlib import Path

from ..events import Failure, FailureKind, Stream
from .base import Job, Outcome, OutputSink
from .procs import kill_tree, new_token, sample_forever, shielded, with_token

_PIPE_SIZE = 1 << 20


class _Reader(asyncio.Protocol):
    def __init__(self, pipes: OutputPipes, stream: Stream, closed: asyncio.Future[None]) -> None:
        self._pipes = pipes
        self._stream = stream
        self._closed = closed

    def data_received(self, data: bytes) -> None:
        self._pipes.forward(self._stream, data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._closed.done():
            self._closed.set_result(None)


class OutputPipes:
    """A stdout and a stderr pipe; bytes written to them reach the sink as they arrive.

    Give :attr:`writers` to the child, call :meth:`close_writers` once it has them, then
    :meth:`start`; :meth:`drain` waits for both pipes to reach EOF; :meth:`close` always.
    """

    def __init__(self, sink: OutputSink) -> None:
        self._sink = sink
        self.error: Exception | None = None
        """The first exception the sink raised (output is still read, so the child never blocks)."""
        out_r, out_w = os.pipe()
        try:
            err_r, err_w = os.pipe()
        except OSError:
            os.close(out_r)
            os.close(out_w)
            raise
        self.writers = (out_w, err_w)
        self._unopened = [(out_r, Stream.STDOUT), (err_r, Stream.STDERR)]
        self._writers_open = True
        self._transports: list[asyncio.BaseTransport] = []
        self._closed: list[asyncio.Future[None]] = []
        for fd in (out_r, err_r):
            # A bigger pipe means fewer, larger reads and fewer stalls of a chatty child.
            with contextlib.suppress(OSError, AttributeError):
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)

    def forward(self, stream: Stream, data: bytes) -> None:
        try:
            self._sink.output(stream, data)
        except Exception as exc:
            if self.error is None:
                self.error = exc

    def close_writers(self) -> None:
        """Close tuibuild's copies of the write ends, so EOF comes when the child's close."""
        if self._writers_open:
            self._writers_open = False
            for fd in self.writers:
                os.close(fd)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        while self._unopened:
            fd, stream = self._unopened.pop(0)
            closed: asyncio.Future[None] = loop.create_future()
            self._closed.append(closed)
            pipe = open(fd, "rb", buffering=0)  # noqa: SIM115 - the transport closes it
            transport, _ = await loop.connect_read_pipe(
                functools.partial(_Reader, self, stream, closed), pipe
            )
            self._transports.append(transport)

    async def drain(self, timeout: float) -> bool:
        """Wait until every writer has closed its end, at most `timeout` seconds."""
        if not self._closed:
            return True
        done, _ = await asyncio.wait(self._closed, timeout=timeout)
        return len(done) == len(self._closed)

    def close(self) -> None:
        self.close_writers()
        for transport in self._transports:
            transport.close()
        for fd, _ in self._unopened:
            os.close(fd)
        self._unopened.clear()


def start_failure(exc: OSError, program: str, cwd: Path) -> Failure:
    """Why a process could not start, in words: the program or the working directory."""
    about_cwd = exc.filename is not None and str(exc.filename) == str(cwd)
    if about_cwd or (isinstance(exc, FileNotFoundError) and not cwd.exists()):
        if isinstance(exc, FileNotFoundError):
            return Failure(FailureKind.START, f"working directory does not exist: {cwd}")
        if isinstance(exc, NotADirectoryError):
            return Failure(FailureKind.START, f"working directory is not a directory: {cwd}")
        if isinstance(exc, PermissionError):
            return Failure(FailureKind.START, f"permission denied for working directory: {cwd}")
        return Failure(FailureKind.START, f"cannot enter working directory {cwd}: {exc.strerror}")
    if isinstance(exc, FileNotFoundError):
        return Failure(FailureKind.NOT_FOUND, f"command not found: {program}")
    if isinstance(exc, PermissionError):
        return Failure(FailureKind.START, f"permission denied: {program}")
    return Failure(FailureKind.START, f"cannot start {program}: {exc.strerror or exc}")


def exit_failure(returncode: int) -> Failure | None:
    """None for status 0, else an EXIT or SIGNAL failure (asyncio gives -N for signal N)."""
    if returncode == 0:
        return None
    if returncode < 0:
        return Failure(
            FailureKind.SIGNAL, f"killed by signal {signal_name(-returncode)}", signal=-returncode
        )
    return Failure(FailureKind.EXIT, f"exited with status {returncode}", exit_code=returncode)


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def timeout_failure(timeout: float) -> Failure:
    return Failure(FailureKind.TIMEOUT, f"timed out after {timeout:g}s")


def sink_failure(pipes: OutputPipes, outcome: Outcome) -> Outcome:
    """Turn a success into an ERROR when the output could not be recorded."""
    if pipes.error is None or not outcome.ok:
        return outcome
    return Outcome(Failure(FailureKind.ERROR, f"could not record the output: {pipes.error!r}"))


class CommandRunner:
    """Runs jobs with `argv` or `shell_command`, one child process (group, session) each."""

    def __init__(
        self, *, kill_grace: float = 1.0, drain_timeout: float = 1.0, sample_interval: float = 1.0
    ) -> None:
        self.kill_grace = kill_grace
        """Seconds the tree gets to exit on SIGINT and SIGTERM before SIGKILL."""
        self.drain_timeout = drain_timeout
        """After the child exits, how long to wait for processes it left holding its output."""
        self.sample_interval = sample_interval

    def accepts(self, job: Job) -> bool:
        return job.argv is not None or job.shell_command is not None

    async def close(self) -> None:
        """Nothing to do: every command's tree is gone when its :meth:`run` returns."""

    async def run(self, job: Job, sink: OutputSink) -> Outcome:
        argv: Sequence[str] = job.argv or ()
        if job.shell_command is not None:
            argv = ("/bin/sh", "-c", job.shell_command)
        if not argv:
            return Outcome(Failure(FailureKind.START, "empty command"))
        token = new_token()
        pipes = OutputPipes(sink)
        try:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=pipes.writers[0],
                    stderr=pipes.writers[1],
                    cwd=job.cwd,
                    env=with_token(job.env, token),
                    start_new_session=True,
                )
            except OSError as exc:
                return Outcome(start_failure(exc, argv[0], job.cwd))
            except ValueError as exc:  # e.g. a NUL byte in an argument
                return Outcome(Failure(FailureKind.START, f"cannot start {argv[0]}: {exc}"))
            finally:
                pipes.close_writers()
            return sink_failure(pipes, await self._follow(proc, job, sink, pipes, token))
        finally:
            pipes.close()

    async def _follow(
        self,
        proc: asyncio.subprocess.Process,
        job: Job,
        sink: OutputSink,
        pipes: OutputPipes,
        token: str,
    ) -> Outcome:
        sampling: asyncio.Task[None] | None = None
        try:
            sink.started(proc.pid)
            await pipes.start()
            sampling = asyncio.create_task(
                sample_forever(proc.pid, sink.sample, self.sample_interval)
            )
            try:
                returncode = await asyncio.wait_for(proc.wait(), job.timeout)
            except asyncio.TimeoutError:
                await shielded(self._kill(proc, token))
                await pipes.drain(self.drain_timeout)
                return Outcome(timeout_failure(job.timeout or 0))
            await pipes.drain(self.drain_timeout)
            return Outcome(exit_failure(returncode))
        except asyncio.CancelledError:
            await shielded(self._kill(proc, token))
            raise
        finally:
            if sampling is not None:
                sampling.cancel()

    async def _kill(self, proc: asyncio.subprocess.Process, token: str) -> None:
        await kill_tree(proc.pid, proc.pid, self.kill_grace, token=token)
        await proc.wait()
