"""A running task's output on its way out: to its log file first, then to subscribers.

The runner hands over raw bytes; this writes them unchanged to the task's log (the one complete
record, which the console and the dashboard read back) and emits them decoded, with invalid
UTF-8 replaced and multi-byte characters split across reads put back together per stream.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path

from .events import Event, ResourceSample, Stream, TaskOutput


class TaskLog:
    """The :class:`~tui_build.runners.base.OutputSink` the engine gives a runner for one task."""

    def __init__(
        self,
        task: str,
        path: Path,
        emit: Callable[[Event], None],
        clock: Callable[[], float],
    ) -> None:
        self.task = task
        self.path = path
        self._emit = emit
        self._clock = clock
        self._file = open(path, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        self._decoders = {
            stream: codecs.getincrementaldecoder("utf-8")("replace") for stream in Stream
        }
        self.pid: int | None = None

    def started(self, pid: int | None) -> None:
        self.pid = pid

    def output(self, stream: Stream, data: bytes) -> None:
        self._file.write(data)
        text = self._decoders[stream].decode(data)
        if text:
            self._emit(TaskOutput(self.task, stream, text, self._clock()))

    def sample(self, cpu_percent: float, rss_bytes: int, processes: int) -> None:
        self._emit(ResourceSample(self.task, cpu_percent, rss_bytes, processes, self._clock()))

    def close(self) -> None:
        """Flush what the decoders still hold (a character cut at the very end) and close."""
        for stream, decoder in self._decoders.items():
            rest = decoder.decode(b"", final=True)
            if rest:
                self._emit(TaskOutput(self.task, stream, rest, self._clock()))
        self._file.close()
