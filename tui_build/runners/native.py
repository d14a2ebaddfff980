"""Commands started, read and reaped by a small native helper process (``tuibuild-spawn``).

On thousands of short commands the engine was the bottleneck, and half of its time was not its
own work: each ``posix_spawn`` blocks the calling thread until the child has exec'd (0.4-0.6 ms
here), and each child costs twenty-odd system calls (pipes, epoll, a pidfd, waitpid), all on the
one thread that also runs the scheduler, events, logs and store. The helper
(``tui_build/native/spawn_helper.c``, compiled into the wheel by ``hatch_build.py``) does that
part beside the engine, and tells it what happened in batches on one pipe.

The engine keeps everything else: timeouts, cancel and killing the tree (by pid, process group
and token, as before), resource samples, and the outcome. :class:`SpawnHelper` gives
:class:`~.command.CommandRunner` a :class:`~.spawn.Child` and an object with the interface of
:class:`~.command.OutputPipes`, so the runner follows a command the same way whoever started it.

Where the binary is missing (no compiler at install, not Linux), fails to start, or dies, the
runner starts commands itself. ``TUIBUILD_NATIVE=0`` forces that.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import os
import select
import signal
import struct
import subprocess
import sys
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..events import Stream
from .base import OutputSink
from .fdwatch import Watcher, fd_watcher
from .spawn import Child

DISABLE_ENV = "TUIBUILD_NATIVE"
PROTOCOL = 1
"""What spawn_helper.c's PROTOCOL must be: a binary left from an older build is not used."""
BINARY = Path(__file__).resolve().parent.parent / "native" / "tuibuild-spawn"

_HEADER = struct.Struct("=BxxxIII")
_HEADER_SIZE = _HEADER.size
_READ_SIZE = 1 << 20
_HELLO_TIMEOUT = 5.0
_PIPE_SIZE = 1 << 20
_STREAMS = {1: Stream.STDOUT, 2: Stream.STDERR}
_SPAWN = ord("S")
_ENV = ord("E")
_WITHDRAW = ord("K")
_RELEASE = ord("R")
_SETTINGS = ord("W")
_RESUME = ord("G")


def available() -> bool:
    """True when commands can go through the helper here."""
    return (
        os.environ.get(DISABLE_ENV, "1") != "0"
        and hasattr(os, "pidfd_open")
        and os.access(BINARY, os.X_OK)
    )


class HelperOutput:
    """A command's output as the helper reports it, with the interface of ``OutputPipes``.

    Reports may arrive before the runner follows the command (they come in batches); they are
    held until :meth:`watch`, so the sink sees the start before any output.
    """

    def __init__(self, sink: OutputSink) -> None:
        self._sink = sink
        self.error: Exception | None = None
        self._eof = False
        self._watching = False
        self._held: list[tuple[Stream, bytes]] = []
        self._on_eof: Callable[[], None] | None = None
        self._eof_future: asyncio.Future[None] | None = None
        self.release: Callable[[], None] | None = None

    @property
    def eof(self) -> bool:
        return self._eof

    def forward(self, stream: Stream, data: bytes) -> None:
        if not self._watching:
            self._held.append((stream, data))
            return
        try:
            self._sink.output(stream, data)
        except Exception as exc:
            if self.error is None:
                self.error = exc

    def ended(self) -> None:
        """Both pipes reached EOF (the helper's 'C', or the helper is gone)."""
        if self._eof:
            return
        self._eof = True
        if not self._watching:
            return
        if self._eof_future is not None and not self._eof_future.done():
            self._eof_future.set_result(None)
        if self._on_eof is not None:
            self._on_eof()

    def watch(
        self, on_eof: Callable[[], None] | None = None, watcher: Watcher | None = None
    ) -> None:
        self._watching = True
        self._on_eof = on_eof
        held, self._held = self._held, []
        for stream, data in held:
            self.forward(stream, data)
        if self._eof and on_eof is not None:
            on_eof()

    async def drain(self, timeout: float) -> bool:
        if self._eof:
            return True
        if self._eof_future is None:
            self._eof_future = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._eof_future), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def close(self) -> None:
        """The runner is done with the command: pipes still open (held by something the
        command left running) are released in the helper."""
        self._on_eof = None
        if not self._eof and self.release is not None:
            self._eof = True
            self.release()
        self.release = None


class _Entry:
    __slots__ = ("abandoned", "child", "cwd", "exited", "filename", "ident", "output", "started")

    def __init__(
        self,
        ident: int,
        output: HelperOutput,
        started: asyncio.Future[int],
        filename: str,
        cwd: str,
    ) -> None:
        self.ident = ident
        self.output = output
        self.started = started
        self.filename = filename
        self.cwd = cwd
        self.child: Child | None = None
        self.exited = False
        self.abandoned = False


class HelperGone(Exception):
    """The helper could not be started or has died: start commands from Python instead."""


class SpawnHelper:
    """One ``tuibuild-spawn`` process serving the runners of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, watcher: Watcher) -> None:
        self._loop = loop
        self._watcher = watcher
        try:
            self._process = subprocess.Popen(
                [str(BINARY)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
            )
        except OSError as exc:
            raise HelperGone(str(exc)) from exc
        assert self._process.stdin is not None and self._process.stdout is not None
        self._requests = self._process.stdin.fileno()
        self._reports = self._process.stdout.fileno()
        self._hello()
        for fd in (self._requests, self._reports):
            os.set_blocking(fd, False)
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        self._entries: dict[int, _Entry] = {}
        self._next_id = 1
        self._envs: dict[tuple[tuple[str, str], ...], int] = {}
        self._outgoing = bytearray()
        self._writer_added = False
        # Room for one read after the longest report the helper sends (its READ_SIZE, 256 KiB).
        self._buffer = bytearray(_READ_SIZE + _HEADER_SIZE + (256 << 10))
        self._filled = 0
        self._flush_scheduled = False
        self._settings = (0, False)
        self.alive = True
        watcher.add(self._reports, self._readable)

    def _hello(self) -> None:
        """Read the helper's first report (it sends it at once) and check its protocol."""
        ready, _, _ = select.select([self._reports], [], [], _HELLO_TIMEOUT)
        hello = os.read(self._reports, _HEADER_SIZE) if ready else b""
        if len(hello) == _HEADER_SIZE:
            kind, _, version, _ = _HEADER.unpack(hello)
            if kind == ord("H") and version == PROTOCOL:
                return
            reason = f"{BINARY} speaks protocol {version}, not {PROTOCOL}: reinstall tuibuild"
        else:
            reason = f"{BINARY} did not answer"
        self._process.kill()
        self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()
        _warn_once(reason)
        raise HelperGone(reason)

    # -- requests ---------------------------------------------------------------------------

    def spawn(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        extra: str,
        sink: OutputSink,
        limit: int = 0,
        pause_on_failure: bool = False,
    ) -> tuple[asyncio.Future[int], HelperOutput, _Entry]:
        """Ask for `argv` to be started; the future gets its pid (or the OSError of the start).

        `extra` ("K=V") is added to `env`, replacing that key. The helper starts it once fewer
        than `limit` of its commands run (0: at once), in the order asked; with
        `pause_on_failure`, not after one exits unsuccessfully until :meth:`resume` or the next
        spawn. Raises ValueError for a NUL byte.
        """
        if not self.alive:
            raise HelperGone("the spawn helper has exited")
        key = tuple(env.items())
        env_id = self._envs.get(key)
        if env_id is None:
            if any("\0" in k or "\0" in v for k, v in key):
                raise ValueError("embedded null byte")
            env_id = self._envs[key] = len(self._envs) + 1
            block = b"".join(os.fsencode(f"{k}={v}") + b"\0" for k, v in key)
            self._send(_ENV, env_id, 0, block)
        parts = [str(limit), str(cwd), extra, *argv]
        encoded = [os.fsencode(part) for part in parts]
        if any(b"\0" in part for part in encoded):
            raise ValueError("embedded null byte")
        if (limit, pause_on_failure) != self._settings:
            # Reports may wait while more than `limit` commands do.
            self._settings = (limit, pause_on_failure)
            self._send(_SETTINGS, int(pause_on_failure), limit, b"")
        task_id = self._next_id
        self._next_id += 1
        output = HelperOutput(sink)
        started: asyncio.Future[int] = self._loop.create_future()
        entry = _Entry(task_id, output, started, argv[0], parts[1])
        output.release = functools.partial(self._release, task_id)
        self._entries[task_id] = entry
        self._send(_SPAWN, task_id, env_id, b"\0".join(encoded) + b"\0")
        return started, output, entry

    def withdraw(self, entry: _Entry) -> None:
        """The command is no longer wanted: not started if it still waits in the helper, and
        killed (its process group) when its start is reported if it does not."""
        entry.abandoned = True
        if entry.child is not None:
            return
        if self.alive:
            self._send(_WITHDRAW, entry.ident, 0, b"")

    def resume(self) -> None:
        if self.alive:
            self._send(_RESUME, 0, 0, b"")

    def _release(self, ident: int) -> None:
        entry = self._entries.pop(ident, None)
        if self.alive and entry is not None:
            self._send(_RELEASE, ident, 0, b"")

    def _send(self, kind: int, ident: int, arg: int, payload: bytes) -> None:
        self._outgoing += _HEADER.pack(kind, ident, arg, len(payload))
        self._outgoing += payload
        if not self._flush_scheduled and not self._writer_added:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)  # the requests of one loop iteration in one write

    def _flush(self) -> None:
        self._flush_scheduled = False
        while self._outgoing:
            try:
                written = os.write(self._requests, self._outgoing)
            except BlockingIOError:
                if not self._writer_added:
                    self._writer_added = True
                    self._loop.add_writer(self._requests, self._writable)
                return
            except OSError:
                self._gone()
                return
            del self._outgoing[:written]

    def _writable(self) -> None:
        self._loop.remove_writer(self._requests)
        self._writer_added = False
        self._flush()

    # -- reports ----------------------------------------------------------------------------

    def _readable(self) -> None:
        # One buffer for the life of the helper: reads land after what the last read left (a
        # report cut in two), so no read allocates and nothing is concatenated.
        buf = self._buffer
        filled = self._filled
        with memoryview(buf) as view:
            try:
                count = os.readv(self._reports, [view[filled:]])
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                count = 0
            if not count:
                self._gone()
                return
            size = filled + count
            at = self._dispatch(view, size)
            rest = view[at:size].tobytes() if at < size else b""
        self._filled = len(rest)
        if rest:
            buf[: len(rest)] = rest
            if len(rest) >= _HEADER_SIZE:
                need = _HEADER_SIZE + _HEADER.unpack_from(rest)[3] + _READ_SIZE
                if need > len(buf):  # a report larger than any the helper sends today
                    buf.extend(bytes(need - len(buf)))

    def _dispatch(self, view: memoryview, size: int) -> int:
        """Act on each whole report in ``view[:size]``; return where the partial one starts."""
        unpack = _HEADER.unpack_from
        at = 0
        entries = self._entries
        while size - at >= _HEADER_SIZE:
            kind, ident, arg, length = unpack(view, at)
            end = at + _HEADER_SIZE + length
            if end > size:
                break
            entry = entries.get(ident)
            if entry is not None:
                if kind == 79:  # 'O'
                    entry.output.forward(_STREAMS[arg], view[at + _HEADER_SIZE : end].tobytes())
                elif kind == 88:  # 'X'
                    self._exited(ident, entry, os.waitstatus_to_exitcode(arg))
                elif kind == 67:  # 'C'
                    entry.output.ended()
                    if entry.exited:
                        del entries[ident]
                elif kind == 80:  # 'P'
                    self._started(entry, arg)
                elif kind == 70:  # 'F'
                    del entries[ident]
                    self._failed(entry, arg, view[at + _HEADER_SIZE : end].tobytes())
            at = end
        return at

    def _started(self, entry: _Entry, pid: int) -> None:
        entry.child = Child(pid)
        if entry.abandoned:  # cancelled before it started: it must not live on
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            return
        if not entry.started.done():
            entry.started.set_result(pid)

    def _failed(self, entry: _Entry, code: int, stage: bytes) -> None:
        filename = entry.cwd if stage == b"c" else entry.filename
        exc = OSError(code, os.strerror(code), filename)
        if not entry.started.done():
            entry.started.set_exception(exc)
            if entry.abandoned:
                entry.started.exception()  # retrieved: nobody awaits it any more

    def _exited(self, ident: int, entry: _Entry, returncode: int) -> None:
        entry.exited = True
        if entry.output.eof:
            del self._entries[ident]
        if entry.child is not None:
            entry.child._exited(returncode)

    def _gone(self) -> None:
        """The helper died (or closed its end): every command it had is finished for us."""
        if not self.alive:
            return
        self._unwatch()
        entries, self._entries = self._entries, {}
        for entry in entries.values():
            if entry.child is None:
                if not entry.started.done():
                    entry.started.set_exception(
                        OSError(errno.ECHILD, "the spawn helper exited", entry.filename)
                    )
                continue
            with contextlib.suppress(OSError):
                os.killpg(entry.child.pid, signal.SIGKILL)
            entry.output.ended()
            if not entry.exited:
                entry.child._exited(-signal.SIGKILL)

    def _unwatch(self) -> None:
        """No more requests or reports: stop watching both pipes."""
        self.alive = False
        with contextlib.suppress(ValueError, OSError):
            self._watcher.remove(self._reports)
        if self._writer_added:
            self._loop.remove_writer(self._requests)
            self._writer_added = False

    def close(self) -> None:
        """Close the requests pipe (the helper exits at EOF) and reap the helper."""
        if self.alive:
            self._flush()
        self._unwatch()
        for stream in (self._process.stdin, self._process.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        try:
            self._process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


_warned = False


def _warn_once(reason: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        print(f"tuibuild: warning: {reason}; starting commands without the helper", file=sys.stderr)


_helpers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SpawnHelper | None] = (
    weakref.WeakKeyDictionary()
)


def helper_for(loop: asyncio.AbstractEventLoop, start: bool = True) -> SpawnHelper | None:
    """The loop's helper (started at first use unless not `start`), or None: start commands
    from Python."""
    if loop in _helpers:
        helper = _helpers[loop]
        if helper is None or helper.alive:
            return helper
    if not start:
        return None
    if not available():
        _helpers[loop] = None
        return None
    try:
        helper = SpawnHelper(loop, fd_watcher(loop))
    except HelperGone:
        _helpers[loop] = None
        return None
    _helpers[loop] = helper
    weakref.finalize(loop, helper.close)
    return helper


def close_helper(loop: asyncio.AbstractEventLoop) -> None:
    """Stop the loop's helper, if it has one (the runner is closing)."""
    helper = _helpers.pop(loop, None)
    if helper is not None:
        helper.close()
