"""Task output as numbered lines, with a bounded tail in memory and the rest read from the log.

The engine writes every byte a task prints to the task's log file and emits the same bytes,
decoded, as :class:`~tui_build.events.TaskOutput` chunks. Keeping all of it in memory would make
tuibuild's memory grow with the noisiest task, so :class:`TaskLines` keeps only the last lines
(a tail bounded in lines and characters) and reads earlier ones back from the log through a sparse
byte-offset index (:class:`LogIndex`), built on demand and extended lazily, as toolong does.
Line ``i`` in memory is line ``i`` of the file: both are the same bytes split on ``\\n``.

No Textual here: the pane (:mod:`tui_build.ui.widgets.output_pane`) draws what this holds, and
everything can be tested without an app.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator

from ..logs import collapse_carriage_returns
from .sgr import sgr_after

TAIL_LINES = 20_000
"""Lines of a task's output kept in memory; earlier ones are read back from its log."""
LINE_LIMIT = 10_000
"""Characters kept of one line; the rest is counted (shown as "… (N more characters)")."""
INDEX_STEP = 1000
"""The sparse index holds the byte offset of every INDEX_STEP-th line."""
_READ_LIMIT = 1 << 20
_CHUNK = 1 << 20
_SEARCH_CHUNK = 1 << 18  # small enough that one chunk's regex work holds the GIL for ~2 ms

Cancelled = Callable[[], bool]


def _never() -> bool:
    return False


def _compact_open(line: str) -> str:
    """Keep a `\\r`-rewritten open line small: its last state (and a trailing `\\r` if any)."""
    parts = line.split("\r")
    if parts[-1]:
        return parts[-1]
    shown = [p for p in parts if p]
    return (shown[-1] if shown else "") + "\r"


class LogIndex:
    """Lines of a log file by number: a sparse offset index, extended on demand, and a block LRU.

    Thread-safe: a worker extends the index (:meth:`extend`) or searches while the UI reads.
    """

    def __init__(self, path: str, step: int = INDEX_STEP, cached_blocks: int = 8) -> None:
        self.path = path
        self.step = step
        self._offsets = [0]
        self._scan_pos = 0
        self._scan_lines = 0
        self._scan_lock = threading.Lock()
        self._blocks: OrderedDict[int, list[tuple[str, int]]] = OrderedDict()
        self._blocks_lock = threading.Lock()
        self._cached_blocks = cached_blocks

    def covers(self, index: int) -> bool:
        """True when line `index` can be read without scanning the file first."""
        return index // self.step < len(self._offsets)

    @property
    def cached_lines(self) -> int:
        """How many lines the block cache holds (memory use, for tests)."""
        with self._blocks_lock:
            return sum(len(block) for block in self._blocks.values())

    def extend(self, index: int, is_cancelled: Cancelled = _never) -> bool:
        """Scan the file until the index covers line `index`; False if cancelled or too short."""
        with self._scan_lock:
            try:
                with open(self.path, "rb") as f:
                    f.seek(self._scan_pos)
                    while not self.covers(index):
                        if is_cancelled():
                            return False
                        data = f.read(_CHUNK)
                        if not data:
                            return False
                        self._scan(data)
            except OSError:
                return False
        return True

    def _scan(self, data: bytes) -> None:
        """Count the newlines of `data`, noting where each step-th line starts."""
        start, end = 0, len(data)
        while True:
            wanted = len(self._offsets) * self.step - self._scan_lines
            if data.count(b"\n", start, end) < wanted:
                self._scan_lines += data.count(b"\n", start, end)
                break
            # Narrow down by 4 KiB windows (C speed) before finding newlines one by one.
            while (n := data.count(b"\n", start, start + 4096)) < wanted:
                wanted -= n
                self._scan_lines += n
                start += 4096
            pos = start - 1
            for _ in range(wanted):
                pos = data.find(b"\n", pos + 1)
            self._scan_lines += wanted
            self._offsets.append(self._scan_pos + pos + 1)
            start = pos + 1
        self._scan_pos += end

    def line(self, index: int) -> tuple[str, int]:
        """Line `index` (collapsed, capped) and how many characters were cut; ("", 0) if absent."""
        block_no, within = divmod(index, self.step)
        if not self.covers(index) and not self.extend(index):
            return "", 0
        with self._blocks_lock:
            block = self._blocks.get(block_no)
            if block is not None:
                self._blocks.move_to_end(block_no)
        if block is None:
            block = self._read_block(block_no)
            with self._blocks_lock:
                self._blocks[block_no] = block
                while len(self._blocks) > self._cached_blocks:
                    self._blocks.popitem(last=False)
        return block[within] if within < len(block) else ("", 0)

    def _read_block(self, block_no: int) -> list[tuple[str, int]]:
        block: list[tuple[str, int]] = []
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offsets[block_no])
                for _ in range(self.step):
                    raw = f.readline(_READ_LIMIT)
                    if not raw.endswith(b"\n"):
                        if len(raw) < _READ_LIMIT:
                            break  # the open last line: memory has it
                        extra = 0
                        while (more := f.readline(_READ_LIMIT)) and not more.endswith(b"\n"):
                            extra += len(more)
                        extra += max(len(more) - 1, 0)
                        block.append(_clip(raw.decode("utf-8", "replace"), extra))
                        continue
                    block.append(_clip(raw[:-1].decode("utf-8", "replace"), 0))
        except OSError:
            pass
        return block

    def search(self, query: str, stop: int, is_cancelled: Cancelled = _never) -> Iterator[int]:
        """Numbers of the lines before `stop` that contain `query`, read sequentially."""
        # Here, not at the top: the UI's process imports this module before it forks the
        # engine's, and Rich (which .ansi needs) can wait until Textual brings it.
        from .ansi import find_lines

        line = 0
        rest = b""
        try:
            with open(self.path, "rb") as f:
                while line < stop and not is_cancelled():
                    data = f.read(_SEARCH_CHUNK)
                    if not data:
                        break
                    head, newline, rest = (rest + data).rpartition(b"\n")
                    if not newline:
                        continue
                    for found in find_lines(head.decode("utf-8", "replace"), query, line):
                        if found >= stop:
                            return
                        yield found
                    line += head.count(b"\n") + 1
        except OSError:
            return


def last_lines_start(text: str, lines: int) -> int:
    """Where the text after the `lines`-th newline from the end starts (`text` has more).

    One `rsplit` in C, not a Python loop of `rfind`s: 2 ms instead of 8 ms for the 20,000
    lines of a tail, paid on every megabyte batch of a firehose.
    """
    return len(text.rsplit("\n", lines)[0]) + 1


def _clip(line: str, extra: int) -> tuple[str, int]:
    """A line collapsed like a terminal shows it, capped at LINE_LIMIT characters."""
    if "\r" in line:
        line = collapse_carriage_returns(line)
    if len(line) > LINE_LIMIT:
        return line[:LINE_LIMIT], len(line) - LINE_LIMIT + extra
    return line, extra


_attempts = itertools.count(1)


class TaskLines:
    """One task attempt's output: complete lines + an open last line; bounded tail in memory.

    Feed it decoded chunks (:meth:`feed`) with arbitrary boundaries. Lines are numbered from 0
    for the whole attempt; the ones that fell out of the tail are read back from `log_path`.
    """

    def __init__(
        self,
        task: str,
        log_path: str | None = None,
        tail_limit: int = TAIL_LINES,
        *,
        char_limit: int = 32_000_000,
    ) -> None:
        self.task = task
        self.log_path = log_path
        self.tail_limit = max(1, tail_limit)
        self.char_limit = char_limit
        self.version = 0
        """Bumps on every change."""
        self.attempt = next(_attempts)
        """Unique among all TaskLines of the process: tells attempts of one task apart."""
        self.index: LogIndex | None = LogIndex(log_path) if log_path else None
        self._lines: list[str] = []
        self._first = 0
        self._chars = 0
        self._clipped: dict[int, int] = {}
        self._open = ""
        self._open_extra = 0
        self._sgr: dict[int, str] = {}
        """The colours in force at the start of each line of the tail that starts coloured."""
        self._state = ""  # ... and at the start of the open line

    @property
    def complete_count(self) -> int:
        """How many lines have ended (with a newline)."""
        return self._first + len(self._lines)

    @property
    def line_count(self) -> int:
        """Complete lines, plus one for a non-empty open last line."""
        return self.complete_count + (1 if self._open else 0)

    @property
    def first_in_memory(self) -> int:
        """The number of the first line held in memory; earlier ones come from the log."""
        return self._first

    @property
    def held_lines(self) -> int:
        """Lines held in memory, the tail and the log's block cache together."""
        return len(self._lines) + (self.index.cached_lines if self.index else 0)

    def feed(self, text: str) -> None:
        """Add a decoded chunk of output; it may start or end in the middle of a line."""
        if not text:
            return
        self.version += 1
        if "\n" not in text:
            self._extend_open(text)
            return
        newlines = text.count("\n")
        if newlines > self.tail_limit:
            # A burst longer than the tail: its first lines would be dropped as soon as they
            # were split, so only count them (the log file has them). Splitting 20 million lines
            # into strings took seconds and a gigabyte.
            cut = last_lines_start(text, self.tail_limit)
            self.skip(newlines - self.tail_limit + 1)
            text = text[cut:]
            if "\n" not in text:
                self._extend_open(text)
                return
        parts = text.split("\n")
        self._extend_open(parts[0])
        done = collapse_carriage_returns(self._open)
        if len(done) > LINE_LIMIT or self._open_extra:
            done, extra = _clip(done, self._open_extra)
            self._clipped[self.complete_count] = extra
        new = parts[1:-1]
        if "\r" in text:
            new = [collapse_carriage_returns(p) for p in new]
        if len(text) > LINE_LIMIT:
            for i, part in enumerate(new):
                if len(part) > LINE_LIMIT:
                    new[i], self._clipped[self.complete_count + 1 + i] = _clip(part, 0)
        if self._state or "\x1b[" in text or "\x1b[" in done:  # (done: earlier chunks too)
            self._follow_colours(done, new)
        self._lines.append(done)
        self._lines.extend(new)
        self._chars += len(done) + sum(map(len, new)) + len(new) + 1
        self._open, self._open_extra = "", 0
        self._extend_open(parts[-1])
        if len(self._lines) > self.tail_limit + self.tail_limit // 4 or (
            self._chars > self.char_limit
        ):
            self._trim()

    def skip(self, lines: int) -> None:
        """`lines` newlines arrived whose text only the log file has (a burst, cut short)."""
        if lines <= 0:
            return
        self.version += 1
        self._first += len(self._lines) + lines
        self._lines = []
        self._chars = 0
        self._clipped = {}
        self._open, self._open_extra = "", 0
        self._sgr, self._state = {}, ""  # what the skipped lines did to colours is unknown

    def _follow_colours(self, done: str, new: list[str]) -> None:
        """Note the colours each line starts with (a terminal carries them across lines)."""
        state, number = self._state, self.complete_count
        for line in (done, *new):
            if state:
                self._sgr[number] = state
            state = sgr_after(state, line)
            number += 1
        self._state = state

    def sgr_prefix(self, index: int) -> str:
        """The SGR sequence in force where line `index` starts ("" when not known: lines
        read back from the log start in the default colours)."""
        if index >= self.complete_count:
            return self._state
        return self._sgr.get(index, "")

    def _extend_open(self, text: str) -> None:
        if not text:
            return
        if "\r" in text:
            head, _, tail = text.partition("\r")
            if tail.replace("\r", ""):
                self._open, self._open_extra = _compact_open(tail), 0
            else:
                self._extend_open(head)
                self._open = _compact_open(self._open + "\r")
            return
        if self._open.endswith("\r"):
            self._open, self._open_extra = "", 0  # the line is being rewritten
        room = LINE_LIMIT - len(self._open)
        if room >= len(text):
            self._open += text
        else:
            # Past the cap, only count: a `\r` later restarts the line (see above).
            self._open += text[: max(room, 0)]
            self._open_extra += len(text) - max(room, 0)

    def _trim(self) -> None:
        drop = max(0, len(self._lines) - self.tail_limit)
        lengths = [len(line) + 1 for line in self._lines[: len(self._lines) - 1]]
        dropped = sum(lengths[:drop])
        while self._chars - dropped > self.char_limit * 3 // 4 and drop < len(lengths):
            dropped += lengths[drop]
            drop += 1
        if not drop:
            return
        del self._lines[:drop]
        self._chars -= dropped
        self._first += drop
        if self._clipped:
            self._clipped = {i: n for i, n in self._clipped.items() if i >= self._first}
        if self._sgr:
            self._sgr = {i: s for i, s in self._sgr.items() if i >= self._first}

    def _open_state(self) -> tuple[str, int]:
        shown = collapse_carriage_returns(self._open)
        return shown, self._open_extra

    def ready(self, index: int) -> bool:
        """True when :meth:`line` returns at once (no file scan needed first)."""
        return index >= self._first or self.index is None or self.index.covers(index)

    def clipped_line(self, index: int) -> tuple[str, int]:
        """Line `index` (escapes still in) and how many characters of it were cut off.

        Lines before the tail come from the log file (scanning it first if the index does
        not reach that far yet: see :meth:`ready`); ("", 0) when they cannot be read back.
        """
        if index < 0 or index >= self.line_count:
            raise IndexError(index)
        if index >= self.complete_count:
            return self._open_state()
        if index >= self._first:
            return self._lines[index - self._first], self._clipped.get(index, 0)
        if self.index is None:
            return "", 0
        return self.index.line(index)

    def line(self, index: int) -> str:
        """Line `index`: raw text (escapes still in), from memory or the log file."""
        return self.clipped_line(index)[0]

    def tail_lines(self, start: int) -> list[str]:
        """The lines from `start` (not before the tail) to the end, open line included."""
        lines = self._lines[max(0, start - self._first) :]
        if self._open:
            lines.append(self._open_state()[0])
        return lines


class OutputStore:
    """All tasks' output, keyed by task name; the app feeds it from TaskOutput events."""

    def __init__(self, tail_limit: int = TAIL_LINES) -> None:
        self.tail_limit = tail_limit
        self.version = 0
        """Bumps on every change to any task's output."""
        self._tasks: dict[str, TaskLines] = {}

    def feed(self, task: str, text: str) -> None:
        """Add a chunk of `task`'s output (a task never started gets a TaskLines with no log)."""
        if not text:
            return
        lines = self._tasks.get(task)
        if lines is None:
            lines = self._tasks[task] = TaskLines(task, None, self.tail_limit)
        lines.feed(text)
        self.version += 1

    def skip(self, task: str, lines: int) -> None:
        """`lines` of `task`'s output were dropped on the way (see :meth:`TaskLines.skip`)."""
        record = self._tasks.get(task)
        if record is None:
            record = self._tasks[task] = TaskLines(task, None, self.tail_limit)
        record.skip(lines)
        self.version += 1

    def start_attempt(self, task: str, log_path: str | None) -> None:
        """`task` (re)started: its output starts afresh, backed by `log_path`."""
        self._tasks[task] = TaskLines(task, log_path, self.tail_limit)
        self.version += 1

    def get(self, task: str) -> TaskLines | None:
        """The current attempt's output of `task`, if it has one."""
        return self._tasks.get(task)

    def changed_since(self, version: int) -> bool:
        """True when anything changed after :attr:`version` was `version`."""
        return self.version != version
