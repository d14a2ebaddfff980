"""One epoll for every descriptor the runners watch: output pipes and child-exit pidfds.

Each running command has three descriptors to watch (stdout, stderr, the pidfd that becomes
readable at its exit). Through ``loop.add_reader`` each costs a handle, two selector lookups
(each raising a KeyError on the way) and a loop callback per event: for a command such as
`true`, more than the command itself. Here they all sit in one epoll of our own, which the loop
watches as a single reader; adding or removing a descriptor is one ``epoll_ctl``, and all the
events of a loop iteration are dispatched by one callback.

Where epoll does not exist the loop's own readers are used, with the same interface.
"""

from __future__ import annotations

import asyncio
import select
import weakref
from collections.abc import Callable
from typing import Protocol

_MAX_EVENTS = 256


class Watcher(Protocol):
    def add(self, fd: int, callback: Callable[[], None]) -> None:
        """Call `callback()` whenever `fd` is readable (or hung up), until :meth:`remove`."""

    def remove(self, fd: int) -> None:
        """Stop watching `fd` (before closing it)."""


class FdWatcher:
    """Calls `callback()` on the loop whenever a watched descriptor is readable or hung up.

    Level-triggered, as ``loop.add_reader``: a callback that does not consume what is ready is
    called again on the next loop iteration. Remove a descriptor before closing it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weakly: the watcher is the value of a weak-keyed map from its loop.
        self._loop = weakref.ref(loop)
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._epoll = select.epoll()
        self._epoll_fd = self._epoll.fileno()
        loop.add_reader(self._epoll_fd, self._dispatch)

    def add(self, fd: int, callback: Callable[[], None]) -> None:
        self._epoll.register(fd, select.EPOLLIN)
        self._callbacks[fd] = callback

    def remove(self, fd: int) -> None:
        if self._callbacks.pop(fd, None) is not None:
            self._epoll.unregister(fd)

    def _dispatch(self) -> None:
        callbacks = self._callbacks
        for fd, _ in self._epoll.poll(0, _MAX_EVENTS):
            # Looked up now: an earlier callback of this batch may have removed it.
            callback = callbacks.get(fd)
            if callback is None:
                continue
            try:
                callback()
            except Exception as exc:  # as the loop treats a failing reader: report, go on
                loop = self._loop()
                if loop is not None:
                    loop.call_exception_handler(
                        {"message": f"exception in the callback for fd {fd}", "exception": exc}
                    )

    def close(self) -> None:
        """Release the epoll (its loop is gone: nothing can be watched any more)."""
        self._callbacks.clear()
        self._epoll.close()


class _LoopReaders:
    """The fallback: each descriptor is a reader of the loop itself."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)

    def add(self, fd: int, callback: Callable[[], None]) -> None:
        loop = self._loop()
        assert loop is not None, "used after its loop was collected"
        loop.add_reader(fd, callback)

    def remove(self, fd: int) -> None:
        loop = self._loop()
        if loop is not None:
            loop.remove_reader(fd)


_watchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Watcher] = (
    weakref.WeakKeyDictionary()
)


def fd_watcher(loop: asyncio.AbstractEventLoop | None = None) -> Watcher:
    """The watcher of `loop`, by default the running one (made at first use, closed when the
    loop is collected)."""
    if loop is None:
        loop = asyncio.get_running_loop()
    watcher = _watchers.get(loop)
    if watcher is None:
        if hasattr(select, "epoll"):
            epoll_watcher = FdWatcher(loop)
            weakref.finalize(loop, epoll_watcher.close)
            watcher = epoll_watcher
        else:
            watcher = _LoopReaders(loop)
        _watchers[loop] = watcher
    return watcher
