"""Run Python callables (`module:function`) on a pool of long-lived worker processes.

Importing a project's tools (and their dependencies) once per worker, not once per task, is the
point of the pool; running them out of process keeps a crash, a hang or a leak in user code away
from the engine and the dashboard. Workers are started lazily, up to `jobs`, and reused. Each task
gets two fresh pipes for its stdout and stderr, passed to the worker over its control socket
(:mod:`.worker` is the other side), so output streams back exactly like a command's. A worker that
dies fails only its task; a worker that is timed out or cancelled is killed with its whole tree.
The pool replaces either on the next task.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..events import Failure, FailureKind, Frame
from .base import Job, Outcome, OutputSink
from .command import OutputPipes, signal_name, sink_failure, timeout_failure
from .procs import Sampling, kill_tree, new_token, shielded, with_token
from .worker import HEADER, encode

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
_EXIT_WAIT = 1.0


class _Worker:
    """One worker process and the parent's end of its control socket."""

    def __init__(self, proc: asyncio.subprocess.Process, sock: socket.socket) -> None:
        self.proc = proc
        self.sock = sock

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    async def send(self, data: bytes, fds: Sequence[int]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sent = socket.send_fds(self.sock, [data], list(fds))
                break
            except BlockingIOError:
                writable: asyncio.Future[None] = loop.create_future()
                loop.add_writer(self.sock, writable.set_result, None)
                try:
                    await writable
                finally:
                    loop.remove_writer(self.sock)
        if sent < len(data):
            await loop.sock_sendall(self.sock, data[sent:])

    async def receive(self) -> dict[str, Any] | None:
        """The next reply, or None when the socket closed (the worker died)."""
        header = await self._read(HEADER.size)
        if header is None:
            return None
        body = await self._read(HEADER.unpack(header)[0])
        if body is None:
            return None
        reply: dict[str, Any] = pickle.loads(body)
        return reply

    async def _read(self, size: int) -> bytes | None:
        loop = asyncio.get_running_loop()
        data = bytearray()
        while len(data) < size:
            chunk = await loop.sock_recv(self.sock, min(size - len(data), 1 << 20))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def death(self) -> Failure:
        code = self.proc.returncode
        if code is None:
            return Failure(FailureKind.WORKER_DIED, "worker process stopped answering")
        if code < 0:
            return Failure(
                FailureKind.WORKER_DIED,
                f"worker process died (killed by signal {signal_name(-code)})",
                signal=-code,
            )
        return Failure(
            FailureKind.WORKER_DIED, f"worker process died (exit status {code})", exit_code=code
        )


def _outcome(reply: dict[str, Any]) -> Outcome:
    status = reply.get("status")
    if status == "ok":
        return Outcome(result=reply.get("result"))
    message = str(reply.get("message", "unknown error"))
    if status == "start-error":
        return Outcome(Failure(FailureKind.START, message))
    if status == "exception":
        return Outcome(
            Failure(
                FailureKind.EXCEPTION,
                message,
                exit_code=reply.get("exit_code"),
                traceback=reply.get("traceback"),
                frames=tuple(Frame(*frame) for frame in reply.get("frames", ())),
                exception_type=reply.get("type"),
            )
        )
    return Outcome(Failure(FailureKind.EXCEPTION, message))


class PythonRunner:
    """Runs jobs with `call` on up to `jobs` worker processes."""

    def __init__(
        self,
        jobs: int,
        *,
        kill_grace: float = 1.0,
        drain_timeout: float = 1.0,
        sample_interval: float = 1.0,
        python: str = sys.executable,
    ) -> None:
        self.jobs = max(1, jobs)
        self.kill_grace = kill_grace
        self.drain_timeout = drain_timeout
        self.sample_interval = sample_interval
        self.python = python
        self._slots = asyncio.Semaphore(self.jobs)
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()
        self._closed = False

    def accepts(self, job: Job) -> bool:
        return job.call is not None

    @property
    def worker_pids(self) -> set[int]:
        return {worker.pid for worker in self._workers if worker.alive}

    async def run(self, job: Job, sink: OutputSink) -> Outcome:
        token = new_token()
        try:
            request = encode(
                {
                    "call": job.call,
                    "args": tuple(job.args),
                    "kwargs": dict(job.kwargs),
                    "cwd": str(job.cwd),
                    "env": with_token(job.env, token),
                    "root": os.path.abspath(job.root),
                }
            )
        except Exception as exc:
            return Outcome(Failure(FailureKind.ERROR, f"cannot pass the arguments: {exc!r}"))
        async with self._slots:
            if self._closed:
                return Outcome(Failure(FailureKind.ERROR, "the Python worker pool is closed"))
            pipes = OutputPipes(sink)
            try:
                worker = await self._hand_over(request, pipes)
                if isinstance(worker, Failure):
                    return Outcome(worker)
                pipes.close_writers()
                return sink_failure(pipes, await self._follow(worker, job, sink, pipes, token))
            finally:
                pipes.close()

    async def _hand_over(self, request: bytes, pipes: OutputPipes) -> _Worker | Failure:
        """Send the request to an idle worker or a new one; retry once if an idle one died."""
        for _ in range(2):
            while self._idle and not self._idle[-1].alive:
                await self._discard(self._idle.pop())
            try:
                worker = self._idle.pop() if self._idle else await self._spawn()
            except OSError as exc:
                return Failure(FailureKind.ERROR, f"cannot start a Python worker: {exc}")
            try:
                await worker.send(request, pipes.writers)
                return worker
            except OSError:
                await shielded(self._discard(worker))
            except BaseException:  # cancelled mid-request: the worker is in an unknown state
                await shielded(self._discard(worker))
                raise
        return Failure(FailureKind.WORKER_DIED, "worker process died before the task started")

    async def _spawn(self) -> _Worker:
        ours, theirs = socket.socketpair()
        try:
            proc = await asyncio.create_subprocess_exec(
                self.python,
                str(WORKER_SCRIPT),
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        worker = _Worker(proc, ours)
        self._workers.add(worker)
        return worker

    async def _follow(
        self, worker: _Worker, job: Job, sink: OutputSink, pipes: OutputPipes, token: str
    ) -> Outcome:
        keep = False
        waiting: list[asyncio.Task[Any]] = []
        sampling: Sampling | None = None
        try:
            sink.started(worker.pid)
            pipes.watch()
            sampling = Sampling(worker.pid, sink.sample, self.sample_interval)
            reply_task = asyncio.create_task(worker.receive())
            exit_task = asyncio.create_task(worker.proc.wait())
            waiting += [reply_task, exit_task]
            done, _ = await asyncio.wait(
                {reply_task, exit_task}, timeout=job.timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                await shielded(self._kill(worker, token))
                await pipes.drain(self.drain_timeout)
                return Outcome(timeout_failure(job.timeout or 0))
            if not reply_task.done():
                # It exited; a reply it sent first is already waiting in the socket.
                await asyncio.wait({reply_task}, timeout=_EXIT_WAIT)
            reply = None
            if reply_task.done() and not reply_task.cancelled() and not reply_task.exception():
                reply = reply_task.result()
            if reply is None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(exit_task), _EXIT_WAIT)
                failure = worker.death()
                await shielded(self._kill(worker, token))  # what it started may still run
                await pipes.drain(self.drain_timeout)
                return Outcome(failure)
            await pipes.drain(self.drain_timeout)
            keep = not reply.get("retire") and worker.alive
            return _outcome(reply)
        except asyncio.CancelledError:
            await shielded(self._kill(worker, token))
            raise
        finally:
            if sampling is not None:
                sampling.stop()
            for task in waiting:
                task.cancel()
            if keep and not self._closed:
                self._idle.append(worker)
            else:
                await shielded(self._discard(worker))

    async def _kill(self, worker: _Worker, token: str) -> None:
        await kill_tree(worker.pid, worker.pid, self.kill_grace, token=token)
        await worker.proc.wait()

    async def _discard(self, worker: _Worker) -> None:
        self._workers.discard(worker)
        worker.sock.close()  # an idle worker exits on EOF
        if worker.alive:
            try:
                await asyncio.wait_for(worker.proc.wait(), _EXIT_WAIT)
            except asyncio.TimeoutError:
                await kill_tree(worker.pid, worker.pid, self.kill_grace)
                await worker.proc.wait()

    async def close(self) -> None:
        """Stop every worker: idle ones exit on EOF, busy ones (if any) are killed."""
        self._closed = True
        self._idle.clear()
        await asyncio.gather(*(self._discard(worker) for worker in list(self._workers)))
