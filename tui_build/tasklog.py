"""A running task's output on its way out: to its log file first, then to subscribers.

The runner hands over raw bytes; this writes them unchanged to the task's log (the one complete
record, which the console and the dashboard read back) and emits them decoded, with invalid
UTF-8 replaced and multi-byte characters split across reads put back together per stream.

The file is opened at the first byte, not when the task starts: most tasks of a big build print
nothing, and for them no file is created at all (on a busy disk a create costs as much as running
`true`). So `log_path` in the events may name a file that does not exist: every reader takes a
missing log in an existing run folder as empty output.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .events import Event, ResourceSample, Stream, TaskOutput

_utf8_decoder = codecs.getincrementaldecoder("utf-8")


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
        self._file: BinaryIO | None = None
        self._closed = False
        # Made at a stream's first byte, as the file: most tasks never need one.
        self._decoders: dict[Stream, codecs.IncrementalDecoder] = {}
        self.pid: int | None = None
        self.on_started: Callable[[], None] | None = None
        """Called at :meth:`started` (the engine's look-ahead: when a command really starts)."""
        self.size = 0
        """Bytes written to the log so far."""

    def started(self, pid: int | None) -> None:
        self.pid = pid
        if self.on_started is not None:
            self.on_started()

    def output(self, stream: Stream, data: bytes) -> None:
        if self._file is None:
            self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        self._file.write(data)
        self.size += len(data)
        decoder = self._decoders.get(stream)
        if decoder is None:
            decoder = self._decoders[stream] = _utf8_decoder("replace")
        text = decoder.decode(data)
        if text:
            self._emit(TaskOutput(self.task, stream, text, self._clock()))

    def sample(self, cpu_percent: float, rss_bytes: int, processes: int) -> None:
        self._emit(ResourceSample(self.task, cpu_percent, rss_bytes, processes, self._clock()))

    def close(self) -> None:
        """Flush what the decoders still hold (a character cut at the very end) and close.

        A second call does nothing.
        """
        if self._closed:
            return
        self._closed = True
        for stream, decoder in self._decoders.items():
            rest = decoder.decode(b"", final=True)
            if rest:
                self._emit(TaskOutput(self.task, stream, rest, self._clock()))
        if self._file is not None:
            self._file.close()
