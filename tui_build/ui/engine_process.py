"""The dashboard's engine in a process of its own: events come over a pipe, commands go back.

In one process, the engine's thread and Textual's share one GIL. A task printing flat out then
waits for every frame Textual draws (its pipe fills in a couple of milliseconds and the task
stalls), Textual's import at start-up competes with the first tasks, and a key press waits for
the engine. So `tuibuild` forks before it imports Textual: the child runs the very same engine
(:func:`tui_build.cli.make_engine`: store session, events file, JUnit) on its own asyncio loop,
the parent draws. Nothing else changes for the app: :class:`ProcessBridge` is an
:class:`~.feed.EventFeed` like the in-process :class:`~.bridge.Bridge`, with the same queue,
batching and fold.

The wire: frames of a 4-byte length and a pickle, one way each.

- child to parent: ``("hello", durations)`` once the store session is open, or
  ``("error", usage, message)`` when it could not be (the build lock is held: exit 2);
  ``("events", items)`` every :data:`FLUSH_SECONDS` while there are any, where `items` are what
  an :class:`~.feed.EventQueue` holds (a task's output collapsed and trimmed to its tail, so
  a firehose costs the pipe a bounded amount per flush); ``("final", summary, error)`` last.
- parent to child: ``("submit", command)``, ``("interrupt",)``, ``("stop",)``.

The child never outlives its parent's interest: at EOF on the command pipe (the UI died, even
by SIGKILL) it cancels everything, kills every task's tree and exits. It ignores SIGINT (the UI
forwards Ctrl-C as a command) and takes SIGTERM or SIGHUP as an interrupt.

Nothing here imports Textual: the fork happens before Textual is imported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import pickle
import signal
import struct
import sys
import tempfile
import threading
import time
from typing import IO, TYPE_CHECKING, Any

from ..events import Command, RunSummary
from .feed import EventFeed, EventQueue, _OutputRun, recorded_durations

if TYPE_CHECKING:
    from ..engine import Engine
    from ..graph import Graph

FLUSH_SECONDS = 0.02
"""How often the child sends what its queue holds (the UI's own tick is slower)."""
PENDING_CAP = 8_000_000
"""Characters of output the parent holds for the UI before it stops reading the pipe; the
child's queue then collapses what follows to its tail (the log has it all)."""
_HEADER = struct.Struct(">I")


class EngineStartError(Exception):
    """The engine's process could not start the build (message for the user; `usage`: the
    user can fix it, exit 2)."""

    def __init__(self, message: str, usage: bool) -> None:
        super().__init__(message)
        self.usage = usage


def _write_frame(fd: int, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exactly(fd: int, size: int) -> bytes | None:
    parts: list[bytes] = []
    while size:
        data = os.read(fd, min(size, 1 << 20))
        if not data:
            return None
        parts.append(data)
        size -= len(data)
    return b"".join(parts)


def _read_frame(fd: int) -> Any:
    """The next message on `fd`; None at EOF (or a frame cut short)."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    data = _read_exactly(fd, _HEADER.unpack(header)[0])
    return None if data is None else pickle.loads(data)


class ProcessBridge(EventFeed):
    """Runs the build in a forked child process and folds its events for the app.

    Args:
        graph: The selected graph.
        args: The command line (as :func:`tui_build.cli.make_engine` takes it).
        jobs: The jobs limit.
    """

    def __init__(self, graph: Graph, args: argparse.Namespace, jobs: int) -> None:
        super().__init__(threaded=True)
        self._graph = graph
        self._args = args
        self._jobs = jobs
        self._pid: int | None = None
        self._status: int | None = None
        self._events_r = -1
        self._commands_w = -1
        self._reader: threading.Thread | None = None
        self._hello = threading.Event()
        self._started = False  # the child said hello: its store session is open
        self._start_error: EngineStartError | None = None
        self._final: RunSummary | None = None
        self._stopping = threading.Event()
        self._send_lock = threading.Lock()
        self._printed: IO[bytes] | None = None
        """The child's stdout and stderr: a file, shown after the app has closed."""

    # -- life --------------------------------------------------------------------------------

    def start(self) -> None:
        """Fork the engine's process; returns at once (see :meth:`wait_started`)."""
        from ..subreaper import become_subreaper

        # Should the child die, its tasks' processes come to us, and finish() kills them.
        become_subreaper()
        events_r, events_w = os.pipe()
        with contextlib.suppress(OSError, AttributeError):  # fewer, larger hops per batch
            fcntl.fcntl(events_w, fcntl.F_SETPIPE_SZ, 1 << 20)
        commands_r, commands_w = os.pipe()
        self._printed = tempfile.TemporaryFile()  # noqa: SIM115 - read after the child exits
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()  # or the child would print our buffered text again
        pid = os.fork()
        if pid == 0:  # the engine's process
            code = 1
            try:
                os.close(events_r)
                os.close(commands_w)
                # What the engine prints (a store warning, a crash) must not land on the
                # dashboard's screen: the parent shows it once the app has closed.
                printed = self._printed.fileno()
                os.dup2(printed, 1)
                os.dup2(printed, 2)
                sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
                sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
                code = _child_main(self._graph, self._args, self._jobs, events_w, commands_r)
            finally:
                os._exit(code)
        os.close(events_w)
        os.close(commands_r)
        self._pid = pid
        self._events_r = events_r
        self._commands_w = commands_w
        self._reader = threading.Thread(target=self._read, name="tuibuild-events", daemon=True)
        self._reader.start()

    def wait_started(self, timeout: float = 30.0) -> None:
        """Wait until the child has opened the store session; raise :class:`EngineStartError`
        when it could not (another build holds the lock, ...)."""
        self._hello.wait(timeout)
        if self._start_error is not None:
            raise self._start_error
        if not self._hello.is_set():
            raise EngineStartError("the build's engine did not start in time", usage=False)
        if not self._started:
            raise EngineStartError("the build's engine exited before it started", usage=False)

    def _read(self) -> None:
        """The reader thread: frames from the child into the queue, until EOF."""
        try:
            while True:
                message = _read_frame(self._events_r)
                if message is None:
                    break
                kind = message[0]
                if kind == "events":
                    self._queue.put_all(message[1])
                    # The UI is behind: stop reading, so the child collapses what follows.
                    while self._queue.chars > PENDING_CAP and not self._stopping.is_set():
                        time.sleep(0.01)
                elif kind == "hello":
                    self.durations = message[1]
                    self._started = True
                    self._hello.set()
                elif kind == "error":
                    self._start_error = EngineStartError(message[2], usage=message[1])
                    self._hello.set()
                elif kind == "final":
                    self._final = message[1]
                    if message[2] is not None and self.error is None:
                        self.error = RuntimeError(message[2])
        except Exception as exc:  # a broken pipe or frame: the UI says so, and finish() cleans up
            if self.error is None:
                self.error = exc
        finally:
            self._hello.set()  # nobody waits forever for a child that is gone
            with contextlib.suppress(OSError):
                os.close(self._events_r)

    def _send(self, message: object) -> None:
        with self._send_lock:
            if self._commands_w < 0:
                return
            with contextlib.suppress(OSError):  # the child is gone: finish() cleans up
                _write_frame(self._commands_w, message)

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the child to cancel what still runs, record the run and exit; wait for it (at
        most `timeout` seconds, then kill it)."""
        if self._pid is None:
            return
        self._send(("stop",))
        deadline = time.monotonic() + timeout
        if self._reader is not None:
            self._reader.join(timeout)
        self._stopping.set()
        while self._status is None and time.monotonic() < deadline:
            self._reap()
            if self._status is None:
                time.sleep(0.01)
        with self._send_lock:
            if self._commands_w >= 0:
                os.close(self._commands_w)
                self._commands_w = -1

    def _reap(self) -> None:
        if self._pid is None or self._status is not None:
            return
        try:
            pid, status = os.waitpid(self._pid, os.WNOHANG)
        except ChildProcessError:
            self._status = 0
            return
        if pid:
            self._status = os.waitstatus_to_exitcode(status)

    def kill(self) -> None:
        """The child did not stop: kill it (its tasks' trees are the caller's to kill)."""
        if self._pid is not None and self._status is None:
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
            self._status = -signal.SIGKILL

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop)

    # -- commands ----------------------------------------------------------------------------

    def submit(self, command: Command) -> None:
        self._send(("submit", command))

    def interrupt(self) -> None:
        """Ctrl-C, SIGTERM: the build ends "interrupted" (exit status 130)."""
        self._send(("interrupt",))

    # -- questions ---------------------------------------------------------------------------

    @property
    def said_goodbye(self) -> bool:
        """True once the child has sent its final summary (it recorded the run and exited)."""
        return self._final is not None

    @property
    def alive(self) -> bool:
        """True while the child runs (after :meth:`stop`: it did not stop)."""
        self._reap()
        return self._pid is not None and self._status is None

    def printed(self, limit: int = 65536) -> str:
        """What the engine's process printed (its last `limit` bytes), once it has exited."""
        if self._printed is None or self.alive:
            return ""
        try:
            size = self._printed.seek(0, os.SEEK_END)
            self._printed.seek(max(0, size - limit))
            text = self._printed.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        return text if size <= limit else "…" + text

    def final_summary(self) -> RunSummary:
        """The engine's own summary (sent by the child as it exited); the UI's fold when the
        child died before it could send it."""
        if self._final is not None:
            return self._final
        if self.error is None and self._status not in (None, 0):
            self.error = RuntimeError(f"the build's engine exited with status {self._status}")
        return self.summary


# -- the child ---------------------------------------------------------------------------------


def _child_main(
    graph: Graph, args: argparse.Namespace, jobs: int, events_w: int, commands_r: int
) -> int:
    """The engine's process, from the fork to its exit status."""
    from ..cli import UsageError, close_session, make_engine

    # Forked from inside a running loop (a test's): that loop is the parent's, not ours.
    asyncio.events._set_running_loop(None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the terminal's input is the UI's
    os.close(devnull)
    try:
        engine = make_engine(graph, args, jobs)
    except UsageError as exc:
        _write_frame(events_w, ("error", True, str(exc)))
        return 2
    except Exception as exc:
        _write_frame(events_w, ("error", False, f"cannot start the build: {exc}"))
        return 1
    outbox = _Outbox(events_w)
    engine.subscribe(outbox.queue.put)
    error: str | None = None
    try:
        outbox.send(("hello", recorded_durations(engine)))
        outbox.start()
        error = asyncio.run(_serve(engine, commands_r))
    except BaseException as exc:  # the run is still recorded and the UI told
        error = f"internal error: {exc!r}"
    finally:
        close_session(engine)
        outbox.stop()
    with contextlib.suppress(OSError):
        outbox.send(("final", engine.summary, error))
    return 0


async def _serve(engine: Engine, commands_r: int) -> str | None:
    """Run the build, take commands until told to stop (or the parent is gone), shut down."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    failure: list[str] = []

    async def run() -> None:
        try:
            await engine.run()
        except Exception as exc:  # shown by the app; the UI must survive an engine bug
            failure.append(f"internal error: {exc!r}")

    buffer = bytearray()

    def readable() -> None:
        try:
            data = os.read(commands_r, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the UI is gone: leave nothing running behind it
            loop.remove_reader(commands_r)
            engine.interrupt()
            stop.set()
            return
        buffer.extend(data)
        while len(buffer) >= _HEADER.size:
            size = _HEADER.unpack_from(buffer)[0]
            if len(buffer) < _HEADER.size + size:
                break
            message = pickle.loads(bytes(buffer[_HEADER.size : _HEADER.size + size]))
            del buffer[: _HEADER.size + size]
            kind = message[0]
            if kind == "submit":
                engine.submit(message[1])
            elif kind == "interrupt":
                engine.interrupt()
            elif kind == "stop":
                stop.set()

    os.set_blocking(commands_r, False)
    loop.add_reader(commands_r, readable)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, engine.interrupt)
    engine_loop_task = loop.create_task(run())
    await stop.wait()
    with contextlib.suppress(Exception):
        loop.remove_reader(commands_r)
    await engine.shutdown()
    await asyncio.gather(engine_loop_task, return_exceptions=True)
    return failure[0] if failure else None


class _Outbox:
    """The child's events on their way to the parent: queued, collapsed, sent by a thread.

    The engine's loop only queues (:class:`~.feed.EventQueue`); a thread sends a batch every
    :data:`FLUSH_SECONDS`, blocking while the parent is behind, so the loop never waits for
    the pipe and a firehose only grows the queue to its trimmed tail.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.queue = EventQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tuibuild-outbox", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def send(self, message: object) -> None:
        with self._lock:
            _write_frame(self.fd, message)

    def _flush(self) -> None:
        if self.queue:
            items = list(self.queue.take())
            for item in items:
                if isinstance(item, _OutputRun):
                    item.keep_tail()  # a firehose costs the pipe a tail per flush, no more
            self.send(("events", items))

    def _run(self) -> None:
        try:
            while not self._stop.wait(FLUSH_SECONDS):
                self._flush()
        except OSError:  # the parent is gone; the command pipe's EOF stops the build
            pass

    def stop(self) -> None:
        """Send what is left, and stop the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        with contextlib.suppress(OSError):
            self._flush()
