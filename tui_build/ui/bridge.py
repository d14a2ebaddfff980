"""The engine on a thread of the dashboard's own process: :class:`Bridge`, an :class:`EventFeed`.

The engine runs on an asyncio loop of its own, in a background thread, so the UI loop stays
responsive however fast tasks print; its events land in the feed's queue (:mod:`.feed`) and the
app drains it on its timer. Commands go the other way with ``loop.call_soon_threadsafe``.
`tuibuild` itself runs its engine in a process of its own (:mod:`.engine_process`), where the
two never wait for each other's GIL; this thread is the fallback where the system cannot fork,
and what tests and the screenshot script drive.

For tests the engine may also run on the app's own loop (``threaded=False``): the same queue,
the same batching, but a test can open a fake runner's gates directly.

Nothing here imports Textual: the bridge is started before the UI is up, while Textual is
still being imported.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from ..engine import Engine
from ..events import Command, RunSummary
from .feed import EventFeed, recorded_durations


class Bridge(EventFeed):
    """Runs an :class:`Engine` for the dashboard and folds its events into batches.

    Args:
        engine: The engine to run (not yet started).
        threaded: Run the engine on a loop of its own in a background thread (the dashboard),
            or on the caller's running loop (tests).
    """

    def __init__(self, engine: Engine, *, threaded: bool = True) -> None:
        super().__init__(threaded=threaded)
        self.engine = engine
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._run_task: asyncio.Task[Any] | None = None
        self._ready = threading.Event()
        self.durations = recorded_durations(engine)
        engine.subscribe(self._on_event)

    # -- life --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the build. Threaded: returns at once. Inline: call on a running loop."""
        if self.threaded:
            self._thread = threading.Thread(target=self._thread_main, name="tuibuild-engine")
            self._thread.daemon = True
            self._thread.start()
            self._ready.wait(5)
        else:
            self._loop = asyncio.get_running_loop()
            self._run_task = self._loop.create_task(self._guarded_run())

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._thread_run())
        finally:
            loop.close()

    async def _thread_run(self) -> None:
        self._stop = asyncio.Event()
        run = asyncio.get_running_loop().create_task(self._guarded_run())
        self._ready.set()
        # The build may finish and be resumed by commands many times; stay until told to stop.
        await self._stop.wait()
        await self.engine.shutdown()
        await asyncio.gather(run, return_exceptions=True)

    async def _guarded_run(self) -> None:
        try:
            await self.engine.run()
        except Exception as exc:  # shown by the app; the UI must survive an engine bug
            self.error = exc

    def stop(self, timeout: float = 15.0) -> None:
        """Threaded: cancel everything still running, kill its processes and join the thread."""
        loop, stop = self._loop, self._stop
        if self._thread is None or loop is None or stop is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout)

    async def aclose(self) -> None:
        """Inline: cancel everything still running and close the runner."""
        if self.threaded:
            await asyncio.get_running_loop().run_in_executor(None, self.stop)
            return
        if self._run_task is None:  # never started: nothing runs, only the runner to close
            await self.engine.runner.close()
            return
        await self.engine.shutdown()
        if self._run_task is not None:
            await asyncio.gather(self._run_task, return_exceptions=True)

    # -- commands ----------------------------------------------------------------------------

    def submit(self, command: Command) -> None:
        """Send a command to the engine on its own loop."""
        self.call(self.engine.submit, command)

    def interrupt(self) -> None:
        """Ctrl-C, SIGTERM: the build ends "interrupted" (exit status 130)."""
        self.call(self.engine.interrupt)

    def call(self, function: Callable[..., object], *args: object) -> None:
        """Call `function(*args)` on the engine's loop (thread-safe)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if self.threaded:
            loop.call_soon_threadsafe(function, *args)
        else:
            loop.call_soon(function, *args)

    # -- questions ---------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        """True while the engine's thread still runs (after :meth:`stop`: it did not stop)."""
        return self._thread is not None and self._thread.is_alive()

    def final_summary(self) -> RunSummary:
        """The engine's own summary, to print once the engine thread has stopped."""
        return self.engine.summary
