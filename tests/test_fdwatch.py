"""The shared descriptor watcher every command's pipes and exit go through."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import select
from collections.abc import Iterator

import pytest

from tui_build.runners import fdwatch
from tui_build.runners.fdwatch import FdWatcher, fd_watcher


@contextlib.contextmanager
def pipes(n: int) -> Iterator[list[tuple[int, int]]]:
    made = [os.pipe() for _ in range(n)]
    try:
        yield made
    finally:
        for r, w in made:
            for fd in (r, w):
                with contextlib.suppress(OSError):
                    os.close(fd)


async def test_every_ready_descriptor_is_dispatched_until_removed() -> None:
    watcher = fd_watcher()
    assert watcher is fd_watcher()  # one per loop
    seen: list[int] = []
    with pipes(300) as made:  # more than one epoll batch
        for i, (r, _) in enumerate(made):

            def readable(i: int = i, r: int = r) -> None:
                seen.append(i)
                os.read(r, 1)
                watcher.remove(r)

            watcher.add(r, readable)
        for _, w in made:
            os.write(w, b"x")
        for _ in range(100):
            if len(seen) == len(made):
                break
            await asyncio.sleep(0.01)
    assert sorted(seen) == list(range(300))


async def test_level_triggered_and_removal_within_a_batch() -> None:
    """A callback that reads nothing is called again; one removed by an earlier callback of the
    same batch is not called at all."""
    watcher = fd_watcher()
    calls: list[str] = []
    with pipes(2) as [(a, wa), (b, wb)]:

        def first() -> None:
            calls.append("a")
            watcher.remove(b)
            if calls.count("a") == 3:
                watcher.remove(a)

        def second() -> None:
            calls.append("b")
            watcher.remove(a)

        watcher.add(a, first)
        watcher.add(b, second)
        os.write(wa, b"x")
        os.write(wb, b"x")
        for _ in range(100):
            if a not in fdwatch_callbacks(watcher) and b not in fdwatch_callbacks(watcher):
                break
            await asyncio.sleep(0.01)
    # Whichever came first removed the other one before it was called.
    assert calls in (["a", "a", "a"], ["b"])


def fdwatch_callbacks(watcher: object) -> dict[int, object]:
    assert isinstance(watcher, FdWatcher)
    return watcher._callbacks


async def test_a_failing_callback_is_reported_and_the_others_still_run() -> None:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    watcher = fd_watcher()
    got: list[bytes] = []
    with pipes(2) as [(bad, wbad), (good, wgood)]:

        def broken() -> None:
            watcher.remove(bad)
            raise RuntimeError("boom")

        def reading() -> None:
            got.append(os.read(good, 10))
            watcher.remove(good)

        watcher.add(bad, broken)
        watcher.add(good, reading)
        os.write(wbad, b"x")
        os.write(wgood, b"ok")
        for _ in range(100):
            if got and errors:
                break
            await asyncio.sleep(0.01)
    assert got == [b"ok"]
    assert isinstance(errors[0]["exception"], RuntimeError)


async def test_hang_up_counts_as_readable() -> None:
    watcher = fd_watcher()
    done = asyncio.get_running_loop().create_future()
    with pipes(1) as [(r, w)]:

        def readable() -> None:
            watcher.remove(r)
            done.set_result(os.read(r, 10))

        watcher.add(r, readable)
        os.close(w)
        assert await asyncio.wait_for(done, 5) == b""


def test_the_epoll_is_closed_with_its_loop() -> None:
    async def make() -> int:
        watcher = fd_watcher()
        assert isinstance(watcher, FdWatcher)
        return watcher._epoll.fileno()

    loop = asyncio.new_event_loop()
    fd = loop.run_until_complete(make())
    os.fstat(fd)
    loop.close()
    del loop
    gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)


async def test_without_epoll_the_loop_watches_each_descriptor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(select, "epoll")
    monkeypatch.setattr(fdwatch, "_watchers", type(fdwatch._watchers)())
    watcher = fd_watcher()
    assert not isinstance(watcher, FdWatcher)
    done = asyncio.get_running_loop().create_future()
    with pipes(1) as [(r, w)]:

        def readable() -> None:
            watcher.remove(r)
            done.set_result(os.read(r, 10))

        watcher.add(r, readable)
        os.write(w, b"hi")
        assert await asyncio.wait_for(done, 5) == b"hi"
