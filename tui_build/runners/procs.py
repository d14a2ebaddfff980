"""Finding, measuring and killing a task's whole process tree.

A task is more than the process tuibuild started: shells start children, children start
grandchildren, some call ``setsid()`` and leave the process group, and daemons double-fork and
leave the parent chain altogether. Cancel and timeout must leave none of them behind, and the
dashboard shows CPU and memory of the tree as a whole.

Three nets catch them: the process group (one ``killpg``), the parent chain (psutil), and a token
that every task carries in its environment (:data:`TOKEN_ENV`), which finds the processes that
escaped both. On Linux tuibuild also becomes a child subreaper, so orphans are re-parented to it
(not to init) and their zombies can be reaped here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import psutil
else:

    class _Psutil:
        """psutil, imported at first use: a build of short commands never needs it (10 ms)."""

        def __getattr__(self, name: str) -> object:
            import psutil as module

            globals()["psutil"] = module
            return getattr(module, name)

    psutil = _Psutil()

TOKEN_ENV = "TUIBUILD_TASK_TOKEN"
"""Holds a fresh random token in the environment of every task's processes. Tokens accumulate
(space-separated) when a task runs tuibuild itself, so the outer build still finds everything."""

_POLL = 0.01
_KILL_WAIT = 1.0

T = TypeVar("T")


_token_prefix = os.urandom(8).hex()
_token_serial = itertools.count()


def _new_token_prefix() -> None:
    global _token_prefix
    _token_prefix = os.urandom(8).hex()


os.register_at_fork(after_in_child=_new_token_prefix)  # a forked child must not repeat ours


def new_token() -> str:
    """A value for :data:`TOKEN_ENV` that no other task shares: random per process, then a
    serial number (a random token per task costs a system call each)."""
    return f"{_token_prefix}{next(_token_serial):x}"


def with_token(env: Mapping[str, str], token: str) -> dict[str, str]:
    """The environment for a task's process: `env` with the task's token added."""
    return {**env, TOKEN_ENV: token_value(env, token)}


def token_value(env: Mapping[str, str], token: str) -> str:
    """What :data:`TOKEN_ENV` holds in the environment of a task started with `env`."""
    outer = env.get(TOKEN_ENV)
    return f"{outer} {token}" if outer else token


def pids_in_tree(pid: int) -> set[int]:
    """The pid and the pids of all its descendants still alive (empty when the pid is gone)."""
    try:
        root = psutil.Process(pid)
        return {root.pid, *(child.pid for child in root.children(recursive=True))}
    except psutil.Error:
        return set()


def _has_token(proc: psutil.Process, token: str) -> bool:
    try:
        return token in proc.environ().get(TOKEN_ENV, "").split()
    except psutil.Error:
        return False


def _collect(pid: int, token: str | None) -> dict[int, psutil.Process]:
    """The process, the processes carrying the token, and all their descendants: one /proc scan."""
    me = os.getpid()
    children: defaultdict[int, list[psutil.Process]] = defaultdict(list)
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["ppid"]):
        if proc.pid == me:
            continue
        ppid = proc.info.get("ppid")
        if ppid is not None:
            children[ppid].append(proc)
        if proc.pid == pid or (token is not None and _has_token(proc, token)):
            found[proc.pid] = proc
    stack = list(found)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child.pid not in found:
                found[child.pid] = child
                stack.append(child.pid)
    return found


def _alive(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _signal_all(procs: Iterable[psutil.Process], pgid: int | None, sig: int) -> None:
    group_signalled = False
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
            group_signalled = True
    for proc in procs:
        # One SIGINT each, as a terminal's Ctrl-C: many programs take a second one as "force quit".
        with contextlib.suppress(psutil.Error, OSError):
            if group_signalled and os.getpgid(proc.pid) == pgid:
                continue
            proc.send_signal(sig)


async def _wait_gone(procs: list[psutil.Process], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        procs = [p for p in procs if _alive(p)]
        if not procs:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(_POLL)


def _reap(pids: Iterable[int]) -> None:
    # Only orphans re-parented to us are our children; waitpid on anything else fails harmlessly.
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


async def kill_tree(
    pid: int, pgid: int | None, grace: float = 1.0, *, token: str | None = None
) -> set[int]:
    """Stop a process and everything it started: SIGINT, then SIGTERM, then SIGKILL.

    `grace` is the whole budget for the polite steps (half for SIGINT, half for SIGTERM). The
    tree is collected again before each step, since new processes may have been spawned. `pid`
    itself is never reaped here: it is the caller's (asyncio's) child. Returns the pids signalled.
    """
    signalled: set[int] = set()
    steps = ((signal.SIGINT, grace / 2), (signal.SIGTERM, grace / 2), (signal.SIGKILL, _KILL_WAIT))
    for sig, wait in steps:
        procs = [p for p in (await asyncio.to_thread(_collect, pid, token)).values() if _alive(p)]
        _signal_all(procs, pgid, sig)
        if sig != signal.SIGKILL:
            _signal_all(procs, pgid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
        signalled.update(p.pid for p in procs)
        if not procs:
            break
        await _wait_gone(procs, wait)
    _signal_all((), pgid, signal.SIGKILL)  # any group member neither net caught
    _reap(signalled - {pid})
    return signalled


def kill_all_descendants() -> None:
    """SIGKILL every descendant of this process at once (the second Ctrl-C)."""
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()


async def shielded(work: Awaitable[T]) -> T:
    """Await `work` to its end even if the caller is cancelled meanwhile, then honour the cancel.

    Cleanup (killing a tree, waiting for a process) must not be cut short by a second cancel.
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                break
            cancelled = True
    result = task.result()
    if cancelled:
        raise asyncio.CancelledError
    return result


class TreeSampler:
    """CPU and memory of a process and all its descendants.

    CPU is measured from each process's CPU time: since the previous sample for the processes
    seen before, since the process started for new ones. So the first sample is meaningful
    without a priming call, and a task that ends within its first interval costs no sampling.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._known: dict[int, tuple[psutil.Process, float, float]] = {}

    def sample(self) -> tuple[float, int, int] | None:
        """(cpu_percent summed, rss_bytes summed, processes), or None when the process is gone."""
        try:
            known = self._known.get(self.pid)
            root = known[0] if known is not None else psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        seen: dict[int, tuple[psutil.Process, float, float]] = {}
        cpu, rss = 0.0, 0
        for proc in procs:
            previous = self._known.get(proc.pid)
            if previous is not None and previous[0] == proc:
                proc = previous[0]
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    used = times.user + times.system
                    now = time.time()
                    since, before = (
                        (previous[2], previous[1])
                        if previous is not None and previous[0] is proc
                        else (proc.create_time(), 0.0)
                    )
                    rss += proc.memory_info().rss
            except psutil.Error:
                continue
            if now > since:
                cpu += max(0.0, used - before) / (now - since) * 100.0
            seen[proc.pid] = (proc, used, now)
        self._known = seen
        return (cpu, rss, len(seen)) if seen else None


class Sampling:
    """Samples a process tree every `interval` seconds, the first time after one interval.

    Until then it is one timer on the loop: a task that ends sooner costs no thread, no psutil
    call and no asyncio task. :meth:`stop` when the process has ended.
    """

    def __init__(
        self,
        pid: int,
        report: Callable[[float, int, int], None],
        interval: float = 1.0,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._sampler = TreeSampler(pid)
        self._report = report
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._loop = loop or asyncio.get_running_loop()
        self._timer = self._loop.call_later(interval, self._begin)

    def _begin(self) -> None:
        self._task = self._loop.create_task(self._run())

    async def _run(self) -> None:
        while True:
            values = await asyncio.to_thread(self._sampler.sample)
            if values is not None:
                try:
                    self._report(*values)
                except Exception:
                    return  # the sink is broken; the task itself must not fail over a sample
            await asyncio.sleep(self._interval)

    def stop(self) -> None:
        self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
