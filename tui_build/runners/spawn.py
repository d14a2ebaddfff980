"""Starting a command's process cheaply, and learning when it exits without a thread per child.

asyncio's default child watcher on Python 3.11 starts a thread per child, and every
``Thread.start`` waits for that thread: with thousands of short tasks the threads and the GIL
they fight over cost more than the tasks. On Linux a child's exit is readable on a pidfd, which
is watched like any pipe (:mod:`.fdwatch`), so no thread and no signal handler is involved (the
dashboard's engine loop, running in a background thread, needs no set-up either).

The child is started with ``posix_spawn`` (``vfork`` + ``exec`` inside the C library) when it can
be: the task runs in tuibuild's own working directory and finds its program on tuibuild's own
``PATH``. Otherwise (another ``cwd``: ``posix_spawn`` cannot change directory on Python 3.11),
:class:`subprocess.Popen` starts it. Where pidfds do not exist, asyncio's own subprocess
machinery does it all.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .fdwatch import Watcher, fd_watcher

_PIDFD = sys.platform.startswith("linux") and hasattr(os, "pidfd_open")
# Python ignores SIGPIPE (and SIGXFSZ); an ignored signal stays ignored across exec, which would
# stop `yes | head` from ever ending. subprocess resets them likewise (restore_signals).
_RESET_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name)
)


class Child:
    """A started child process: its pid, its exit status once known (-N: signal N).

    :meth:`on_exit` is the cheap way to learn of the exit (a callback on the loop, no future or
    task per child); :meth:`wait` is for the rare paths that await it (killing a tree).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._callbacks: list[Callable[[int], None]] = []

    def on_exit(self, callback: Callable[[int], None]) -> None:
        """Call `callback(returncode)` on the loop once the child has exited (soon if it has)."""
        if self.returncode is not None:
            asyncio.get_running_loop().call_soon(callback, self.returncode)
        else:
            self._callbacks.append(callback)

    def _exited(self, returncode: int) -> None:
        self.returncode = returncode
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(returncode)

    async def wait(self) -> int:
        if self.returncode is not None:
            return self.returncode
        exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def settle(code: int) -> None:
            if not exited.done():
                exited.set_result(code)

        self.on_exit(settle)
        # Shielded: a cancelled waiter must not cancel what other waiters wait for.
        return await asyncio.shield(exited)


class _PidfdChild(Child):
    """Exit noticed through a pidfd on the running loop, then reaped with ``waitpid``."""

    def __init__(
        self, pid: int, popen: subprocess.Popen[bytes] | None, watcher: Watcher | None
    ) -> None:
        super().__init__(pid)
        self._popen = popen
        self._watcher = watcher or fd_watcher()
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except OSError:
            # Cannot happen for our own unreaped child short of fd exhaustion; poll instead.
            self._pidfd = None
            asyncio.get_running_loop().call_soon(self._poll_later)
            return
        self._watcher.add(self._pidfd, self._readable)

    def _reap(self) -> bool:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: nothing more can be known
            pid, status = self.pid, 0
        if pid == 0:
            return False
        returncode = os.waitstatus_to_exitcode(status)
        if self._popen is not None:
            self._popen.returncode = returncode  # so Popen never waits for it again
        self._exited(returncode)
        return True

    def _readable(self) -> None:
        if self._pidfd is not None and self._reap():
            self._watcher.remove(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def _poll_later(self) -> None:
        if not self._reap():
            asyncio.get_running_loop().call_later(0.01, self._poll_later)


class _AsyncioChild(Child):
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        super().__init__(process.pid)
        waiting = asyncio.ensure_future(process.wait())
        waiting.add_done_callback(self._done)

    def _done(self, waiting: asyncio.Future[int]) -> None:
        if not waiting.cancelled():
            self._exited(waiting.result())


async def spawn(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdout: int,
    stderr: int,
    watcher: Watcher | None = None,
) -> Child:
    """Start `argv` in a new session with stdin from /dev/null and the given output fds; its
    exit is watched by `watcher` (by default the running loop's).

    Raises what :func:`subprocess.Popen` raises: :class:`OSError` (with `filename`) when the
    program or the working directory cannot be used, :class:`ValueError` for a NUL byte.
    """
    if not _PIDFD:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        return _AsyncioChild(process)
    # (A pipe may be fd 0-2 when tuibuild's own were closed: Popen sorts that out.)
    if min(stdout, stderr) > 2 and _spawnable(argv[0], cwd, env):
        pid = os.posix_spawnp(
            argv[0],
            tuple(argv),
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, stdout, 1),
                (os.POSIX_SPAWN_DUP2, stderr, 2),
            ],
            setsid=True,
            setsigdef=_RESET_SIGNALS,
        )
        return _PidfdChild(pid, None, watcher)
    popen = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    return _PidfdChild(popen.pid, popen, watcher)


def _spawnable(program: str, cwd: Path, env: Mapping[str, str]) -> bool:
    """True when ``posix_spawnp`` finds the same program in the same place as Popen would."""
    if "/" not in program and env.get("PATH") != os.environ.get("PATH"):
        return False  # posix_spawnp searches tuibuild's PATH, Popen the child's
    try:
        return os.path.samefile(cwd, ".") if str(cwd) != os.getcwd() else True
    except OSError:
        return False
