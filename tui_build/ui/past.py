"""A past run as the dashboard's event source: `tuibuild show [RUN]`, read-only.

:class:`PastRun` stands where the live :class:`~.bridge.Bridge` stands, with the same queue,
batching and fold (:class:`~.feed.EventFeed`), but its events come from the store and the
run's log files (:mod:`tui_build.replay`), told on a thread of their own so the first rows show
while a large log is still being read. Nothing runs, so there is nothing to cancel or re-run:
the app asks :attr:`EventFeed.read_only` and says so instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from ..events import Command
from ..graph import Task
from ..replay import run_events
from ..store_schema import ResultRecord, RunRecord
from .feed import EventFeed


class PastRun(EventFeed):
    """The events of one recorded run, for the dashboard."""

    read_only = True

    def __init__(
        self,
        run: RunRecord,
        results: list[ResultRecord],
        tasks: Mapping[str, Task],
        build_file: str,
    ) -> None:
        super().__init__(threaded=True)
        self.run = run
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.start))
        self.past = f"run {run.id} of {started}, from the history"
        self._events = run_events(run, results, tasks, build_file)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._tell, name="tuibuild-replay", daemon=True)
        self._thread.start()

    def _tell(self) -> None:
        try:
            for event in self._events:
                if self._stopping.is_set():
                    return
                self.inject(event)
        except Exception as exc:  # an unreadable log costs its output, never the dashboard
            self.error = exc

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    async def aclose(self) -> None:
        self.stop()

    def submit(self, command: Command) -> None:
        """Nothing runs: commands are refused by the app before they get here."""

    @property
    def running(self) -> bool:
        """A past run never runs (even one the store caught in the middle)."""
        return False
