"""Run a command (argv or `/bin/sh -c`) as a child in its own session, streaming both outputs.

The child writes into two pipes that tuibuild creates itself (:class:`OutputPipes`); the event
loop watches their read ends, and each raw chunk read (up to 256 KiB) goes straight to the sink.
No line splitting and no StreamReader buffering on the way: a 170 MB stream goes through at pipe
speed and a multi-megabyte line is just several chunks. The Python worker pool reads its tasks'
output the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path

from ..events import Failure, FailureKind, Stream
from . import native
from .base import Job, Outcome, OutputSink
from .fdwatch import Watcher, fd_watcher
from .procs import TOKEN_ENV, Sampling, kill_tree, new_token, shielded, token_value, with_token
from .spawn import Child, spawn

_PIPE_SIZE = 1 << 20
_DEFAULT_PIPE_SIZE = 1 << 16
_READ_SIZE = 256 * 1024


class OutputPipes:
    """A stdout and a stderr pipe; bytes written to them reach the sink as they arrive.

    Give :attr:`writers` to the child, call :meth:`close_writers` once it has them, then
    :meth:`watch`; :meth:`drain` waits for both pipes to reach EOF; :meth:`close` always.
    The read ends are watched directly (:mod:`.fdwatch`): a transport and protocol per pipe
    cost more than the `true` a task often runs.
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
        self._open: dict[int, Stream] = {out_r: Stream.STDOUT, err_r: Stream.STDERR}
        self._writers_open = True
        self._watcher: Watcher | None = None
        self._on_eof: Callable[[], None] | None = None
        self._eof: asyncio.Future[None] | None = None
        self._grown: set[int] = set()

    @property
    def eof(self) -> bool:
        """True once every writer has closed its end (and all output went to the sink)."""
        return not self._open

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

    def watch(
        self, on_eof: Callable[[], None] | None = None, watcher: Watcher | None = None
    ) -> None:
        """Start reading (through `watcher`, by default the running loop's); `on_eof()` is
        called once both pipes are at EOF."""
        watcher = self._watcher = watcher or fd_watcher()
        self._on_eof = on_eof
        for fd, stream in self._open.items():
            os.set_blocking(fd, False)
            watcher.add(fd, functools.partial(self._read, fd, stream))

    def _read(self, fd: int, stream: Stream) -> None:
        try:
            data = os.read(fd, _READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close_reader(fd)
            if not self._open:
                if self._eof is not None and not self._eof.done():
                    self._eof.set_result(None)
                if self._on_eof is not None:
                    self._on_eof()
            return
        if len(data) >= _DEFAULT_PIPE_SIZE and fd not in self._grown:
            # The pipe was full: a chatty child. A bigger pipe means fewer, larger reads and
            # fewer stalls; quiet tasks never pay for it.
            self._grown.add(fd)
            with contextlib.suppress(OSError, AttributeError):
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        self.forward(stream, data)

    def _close_reader(self, fd: int) -> None:
        del self._open[fd]
        if self._watcher is not None:
            self._watcher.remove(fd)
        os.close(fd)

    async def drain(self, timeout: float) -> bool:
        """Wait until every writer has closed its end, at most `timeout` seconds."""
        if not self._open or self._watcher is None:
            return True
        if self._eof is None:
            self._eof = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._eof), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.close_writers()
        self._on_eof = None
        for fd in list(self._open):
            self._close_reader(fd)


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


def sink_failure(pipes: OutputPipes | native.HelperOutput, outcome: Outcome) -> Outcome:
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
        self._queue_limit = 0
        self._pause_on_failure = False
        self._slots: asyncio.Semaphore | None = None

    def accepts(self, job: Job) -> bool:
        return job.argv is not None or job.shell_command is not None

    def queue(self, jobs: int, pause_on_failure: bool = False) -> bool:
        """Let :meth:`run` be called before a slot is free: the command then waits (in the
        spawn helper) until fewer than `jobs` commands run, and `sink.started` marks its real
        start. False (and nothing changes) where commands do not go through the helper.

        The caller keeps the rest of the bargain: while commands may wait so, it starts nothing
        else that counts against the same limit. With `pause_on_failure` (fail-fast), a command
        that exits unsuccessfully holds the waiting ones back until :meth:`resume` or the next
        :meth:`run`; the caller cancels those it no longer wants.
        """
        if not native.available():
            return False
        self._queue_limit = jobs
        self._pause_on_failure = pause_on_failure
        return True

    def resume(self) -> None:
        """Let commands waiting for a slot start again after a failure paused them."""
        helper = native.helper_for(asyncio.get_running_loop(), start=False)
        if helper is not None:
            helper.resume()

    async def close(self) -> None:
        """Stop the loop's spawn helper, if any: every command's tree is gone when its
        :meth:`run` returns."""
        native.close_helper(asyncio.get_running_loop())

    async def run(self, job: Job, sink: OutputSink) -> Outcome:
        argv: Sequence[str] = job.argv or ()
        if job.shell_command is not None:
            argv = ("/bin/sh", "-c", job.shell_command)
        if not argv:
            return Outcome(Failure(FailureKind.START, "empty command"))
        token = new_token()
        loop = asyncio.get_running_loop()  # once: each call is a getpid() system call
        watcher = fd_watcher(loop)
        helper = native.helper_for(loop)
        if helper is not None:
            return await self._run_native(helper, argv, job, sink, token, loop, watcher)
        if self._queue_limit:
            # Commands were to wait in the helper for a slot, and it is gone: wait here.
            if self._slots is None:
                self._slots = asyncio.Semaphore(self._queue_limit)
            async with self._slots:
                return await self._run_here(argv, job, sink, token, loop, watcher)
        return await self._run_here(argv, job, sink, token, loop, watcher)

    async def _run_here(
        self,
        argv: Sequence[str],
        job: Job,
        sink: OutputSink,
        token: str,
        loop: asyncio.AbstractEventLoop,
        watcher: Watcher,
    ) -> Outcome:
        """:meth:`run` with the command started and followed by this process."""
        pipes = OutputPipes(sink)
        try:
            try:
                proc = await spawn(
                    argv,
                    cwd=job.cwd,
                    env=with_token(job.env, token),
                    stdout=pipes.writers[0],
                    stderr=pipes.writers[1],
                    watcher=watcher,
                )
            except OSError as exc:
                return Outcome(start_failure(exc, argv[0], job.cwd))
            except ValueError as exc:  # e.g. a NUL byte in an argument
                return Outcome(Failure(FailureKind.START, f"cannot start {argv[0]}: {exc}"))
            finally:
                pipes.close_writers()
            outcome = await self._follow(proc, job, sink, pipes, token, loop, watcher)
            return sink_failure(pipes, outcome)
        finally:
            pipes.close()

    async def _run_native(
        self,
        helper: native.SpawnHelper,
        argv: Sequence[str],
        job: Job,
        sink: OutputSink,
        token: str,
        loop: asyncio.AbstractEventLoop,
        watcher: Watcher,
    ) -> Outcome:
        """:meth:`run` with the command started, read and reaped by the spawn helper."""
        extra = f"{TOKEN_ENV}={token_value(job.env, token)}"
        try:
            started, output, entry = helper.spawn(
                argv,
                cwd=job.cwd,
                env=job.env,
                extra=extra,
                sink=sink,
                limit=self._queue_limit,
                pause_on_failure=self._pause_on_failure,
            )
        except ValueError as exc:  # e.g. a NUL byte in an argument
            return Outcome(Failure(FailureKind.START, f"cannot start {argv[0]}: {exc}"))
        try:
            await asyncio.shield(started)
        except OSError as exc:
            return Outcome(start_failure(exc, argv[0], job.cwd))
        except asyncio.CancelledError:
            helper.withdraw(entry)  # not started, or killed when its start is reported
            if entry.child is not None:  # it had started: its start was reported
                await shielded(self._kill(entry.child, token))
            raise
        assert entry.child is not None
        try:
            outcome = await self._follow(entry.child, job, sink, output, token, loop, watcher)
            return sink_failure(output, outcome)
        finally:
            output.close()

    async def _follow(
        self,
        proc: Child,
        job: Job,
        sink: OutputSink,
        pipes: OutputPipes | native.HelperOutput,
        token: str,
        loop: asyncio.AbstractEventLoop,
        watcher: Watcher,
    ) -> Outcome:
        """Wait for the child's exit and its output's end (at most :attr:`drain_timeout` after
        the exit: something it left running may hold the pipes), or for the timeout.

        Callbacks on the loop settle one future: no task, no timer and no waiter per step, which
        for a `true` would cost more than the command itself.
        """
        settled: asyncio.Future[bool] = loop.create_future()  # True: it timed out
        timers: list[asyncio.TimerHandle] = []

        def settle(timed_out: bool = False) -> None:
            if not settled.done():
                settled.set_result(timed_out)

        def output_ended() -> None:
            if proc.returncode is not None:
                settle()

        def exited(_returncode: int) -> None:
            for timer in timers:
                timer.cancel()
            if pipes.eof:
                settle()
            else:
                timers.append(loop.call_later(self.drain_timeout, settle))

        sampling: Sampling | None = None
        try:
            sink.started(proc.pid)
            pipes.watch(output_ended, watcher)
            sampling = Sampling(proc.pid, sink.sample, self.sample_interval, loop)
            if job.timeout is not None:
                timers.append(loop.call_later(job.timeout, settle, True))
            proc.on_exit(exited)
            if await settled:
                await shielded(self._kill(proc, token))
                await pipes.drain(self.drain_timeout)
                return Outcome(timeout_failure(job.timeout or 0))
            return Outcome(exit_failure(proc.returncode or 0))
        except asyncio.CancelledError:
            await shielded(self._kill(proc, token))
            raise
        finally:
            for timer in timers:
                timer.cancel()
            if sampling is not None:
                sampling.stop()

    async def _kill(self, proc: Child, token: str) -> None:
        await kill_tree(proc.pid, proc.pid, self.kill_grace, token=token)
        await proc.wait()
