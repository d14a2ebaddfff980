"""The output pane: one task's output, or a group's, following live and scrolling back to line 0.

Task output can run to millions of lines arriving in bursts, so the pane is a Line API widget
(``ScrollView`` + ``render_line``, as toolong does): it holds no lines itself and draws only the
visible rows from the :class:`~tui_build.ui.line_store.OutputStore`, decoding SGR colours per
visible line (cached) and dropping every other escape (:mod:`tui_build.ui.ansi`). The app calls
:meth:`OutputPane.refresh_lines` every ~80 ms; that costs one comparison when nothing changed.

Rows are blocks, one per shown task: an optional header row (group view), then the task's lines.
Search (``/``) scans the in-memory tails at once and the log files in a thread worker.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import get_current_worker

from ..ansi import decode_line, find_lines, highlight, strip_controls
from ..line_store import INDEX_STEP, OutputStore, TaskLines

MAX_MATCHES = 100_000
"""Matches kept per task: more would not help anyone stepping through with `n`."""


@dataclass
class _Block:
    """One task's rows: a header (group view only), then its lines."""

    task: str
    header: str | Text | None
    lines: TaskLines | None = None
    start: int = 0
    rows: int = 0
    matches: list[int] = field(default_factory=list)
    searched: int = 0
    """Complete lines already searched for the current query."""

    def row(self, line: int) -> int:
        """The pane row of line `line` (-1: the header)."""
        return self.start + (self.header is not None) + line


class OutputPane(ScrollView, can_focus=True):
    """Shows task output from an :class:`OutputStore`, following the end while at the bottom."""

    DEFAULT_CSS = """
    OutputPane {
        height: 1fr;
        & > .output-pane--header { text-style: bold; background: $boost; }
        & > .output-pane--hint { color: $text-muted; text-style: italic; }
        & > .output-pane--clipped { color: $text-muted; text-style: italic; }
        & > .output-pane--match { background: $warning-muted; }
        & > .output-pane--current-match { background: $accent; color: $text; }
        & > .output-pane--prompt { background: $panel; }
    }
    """
    COMPONENT_CLASSES = {
        "output-pane--header",
        "output-pane--hint",
        "output-pane--clipped",
        "output-pane--match",
        "output-pane--current-match",
        "output-pane--prompt",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "start_search", "Search"),
        Binding("n", "next_match", "Next match", show=False),
        Binding("N", "previous_match", "Previous match", show=False),
        Binding("end,G", "follow", "Follow", show=False),
        Binding("home,g", "top", "Top", show=False),
    ]

    follow: var[bool] = var(True, init=False)
    """Keep the end of the output in view as it grows; off while the user looks further up."""

    class FollowChanged(Message):
        """The pane started or stopped following the end of the output."""

        def __init__(self, pane: OutputPane, following: bool) -> None:
            super().__init__()
            self.pane = pane
            """The pane whose follow mode changed."""
            self.following = following
            """True when the pane now follows the output."""

        @property
        def control(self) -> OutputPane:
            """The pane (alias of `pane`)."""
            return self.pane

    class SearchUpdated(Message):
        """The search's matches or current match changed."""

        def __init__(self, pane: OutputPane, query: str, current: int | None, total: int) -> None:
            super().__init__()
            self.pane = pane
            """The pane searched."""
            self.query = query
            """What is searched for ("" when the search ended)."""
            self.current = current
            """The 0-based number of the current match, None if there is none."""
            self.total = total
            """How many matches are known so far (the log scan may still add some)."""

        @property
        def control(self) -> OutputPane:
            """The pane (alias of `pane`)."""
            return self.pane

    def __init__(
        self,
        store: OutputStore,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.store = store
        self._blocks: list[_Block] = []
        self._starts: list[int] = []
        self._seen = -1
        self._width = 0
        self._strips: LRUCache[tuple[str, int, str, bool], Strip] = LRUCache(1024)
        self._indexing: set[tuple[int, int]] = set()
        self._prompt: str | None = None
        self.search_query = ""
        """The current search ("" for none)."""
        self._current: tuple[int, int] | None = None
        """(block number, line number) of the current match."""

    # -- what to show ------------------------------------------------------------------------

    def show_task(self, task: str) -> None:
        """Show one task's output, following its end."""
        self.border_title = Content(task)  # literal: task names look like markup
        self._show([_Block(task, None)])

    def show_group(self, title: str, tasks: Sequence[tuple[str, str | Text]]) -> None:
        """Show several tasks' output, each under its header, in the given order.

        Call again with new headers (states change) to update them: the view stays put.

        Args:
            title: What the group is (shown as the pane's border title).
            tasks: (task name, header text) pairs, the header formatted by the caller.
        """
        self.border_title = Content(title)
        if [b.task for b in self._blocks] == [t for t, _ in tasks] and all(
            b.header is not None for b in self._blocks
        ):
            for block, (_, header) in zip(self._blocks, tasks, strict=True):
                block.header = header
            self.refresh()
            return
        self._show([_Block(task, header) for task, header in tasks])

    def _show(self, blocks: list[_Block]) -> None:
        self._blocks = blocks
        self._seen = -1
        self._width = 0
        self._current = None
        self.refresh_lines()
        if self.search_query:
            self.search(self.search_query)
        self.follow = True
        self.scroll_end(animate=False, immediate=True, force=True)

    def refresh_lines(self, y_start: int | None = None, line_count: int = 1) -> None:
        """Take in new output: update the size, and keep following the end if at the bottom.

        Cheap when nothing changed. (With `y_start`, ScrollView's meaning: repaint those rows.)
        """
        if y_start is not None:
            super().refresh_lines(y_start, line_count)
            return
        if not self.store.changed_since(self._seen):
            return
        self._seen = self.store.version
        row = 0
        known = sum(len(b.matches) for b in self._blocks)
        for block in self._blocks:
            lines = self.store.get(block.task)
            if lines is not block.lines:  # a new attempt: its matches are stale
                block.lines, block.matches, block.searched = lines, [], 0
            block.start = row
            block.rows = (lines.line_count if lines else 0) + (block.header is not None)
            row += block.rows
            if self.search_query and lines is not None and lines.complete_count > block.searched:
                self._search_tail(block)
        self._starts = [b.start for b in self._blocks]
        self.virtual_size = Size(self._width, row)
        if self.search_query and sum(len(b.matches) for b in self._blocks) != known:
            self._post_status()
        if self.follow:
            self.scroll_end(animate=False, immediate=True, force=True, x_axis=False)
        self.refresh()

    # -- follow ------------------------------------------------------------------------------

    def watch_follow(self, following: bool) -> None:
        self.post_message(self.FollowChanged(self, following))
        if following:
            self.scroll_end(animate=False, immediate=True, force=True, x_axis=False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        at_bottom = round(new_value) >= self.max_scroll_y
        if at_bottom != self.follow and (new_value < old_value) != at_bottom:
            self.follow = at_bottom

    def on_resize(self, event: events.Resize) -> None:
        if self.follow:
            self.call_after_refresh(self.scroll_end, animate=False, force=True, x_axis=False)

    def action_follow(self) -> None:
        """Jump to the end and follow it."""
        self.follow = True
        self.scroll_end(animate=False, immediate=True, force=True, x_axis=False)

    def action_top(self) -> None:
        """Jump to the first line (follow stops)."""
        self.scroll_to(y=0, animate=False, force=True)

    # -- rendering ---------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def _locate(self, row: int) -> tuple[int, int]:
        """(block number, line number) of a row; line -1 is the block's header."""
        number = bisect_right(self._starts, row) - 1
        block = self._blocks[number]
        return number, row - block.start - (block.header is not None)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        region = self.scrollable_content_region
        base = self.rich_style
        if self._prompt is not None and y == region.height - 1:
            prompt = Text(
                "/" + self._prompt, style=self.get_component_rich_style("output-pane--prompt")
            )
            prompt.append(" ", style=Style(reverse=True))
            return self._fit(Strip(prompt.render(self.app.console)), 0, region.width, base)
        row = scroll_y + y
        total = self.virtual_size.height
        if row >= total:
            if total or y:
                return Strip.blank(region.width, base)
            hint = "no output yet" if self._blocks else "select a task"
            return self._fit(self._plain_strip(hint, "output-pane--hint"), 0, region.width, base)
        number, index = self._locate(row)
        block = self._blocks[number]
        if index < 0:
            header = block.header if isinstance(block.header, Text) else Text(block.header or "")
            style = self.get_component_rich_style("output-pane--header")
            strip = Strip(header.render(self.app.console), header.cell_len)
            return strip.crop_extend(scroll_x, scroll_x + region.width, style).apply_style(style)
        strip = self._line_strip(number, block, index)
        if strip.cell_length > self._width:
            self._width = strip.cell_length
            self.call_after_refresh(self._grow_width)
        return self._fit(strip, scroll_x, region.width, base)

    @staticmethod
    def _fit(strip: Strip, x: int, width: int, style: Style) -> Strip:
        return strip.crop_extend(x, x + width, style).apply_style(style)

    def _plain_strip(self, text: str, component: str) -> Strip:
        content = Text(text, style=self.get_component_rich_style(component))
        return Strip(content.render(self.app.console), content.cell_len)

    def _grow_width(self) -> None:
        if self._width > self.virtual_size.width:
            self.virtual_size = Size(self._width, self.virtual_size.height)

    def _line_strip(self, number: int, block: _Block, index: int) -> Strip:
        lines = block.lines
        if lines is None or index >= lines.line_count:
            return Strip([])
        if not lines.ready(index):
            self._request_index(lines, index)
            return self._plain_strip("…", "output-pane--hint")
        raw, clipped = lines.clipped_line(index)
        matched = bool(self.search_query) and self._is_match(block, index)
        current = matched and self._current == (number, index)
        key = (raw, clipped, self.search_query if matched else "", current)
        strip = self._strips.get(key)
        if strip is None:
            text = decode_line(raw)
            if matched:
                match = "output-pane--current-match" if current else "output-pane--match"
                highlight(text, self.search_query, self.get_component_rich_style(match))
            if clipped:
                more = f" … ({clipped:,} more characters)"
                text.append(more, style=self.get_component_rich_style("output-pane--clipped"))
            strip = Strip(text.render(self.app.console), text.cell_len)
            self._strips.set(key, strip)
        return strip

    def _request_index(self, lines: TaskLines, index: int) -> None:
        """Scan the log in a thread worker until line `index` can be read, then repaint."""
        key = (lines.attempt, index // INDEX_STEP)
        if key in self._indexing or lines.index is None:
            return
        self._indexing.add(key)
        log = lines.index

        def scan() -> None:
            worker = get_current_worker()
            if log.extend(index, lambda: worker.is_cancelled):
                self.app.call_from_thread(self.refresh)
            self._indexing.discard(key)

        self.run_worker(scan, thread=True, group="output-index", exit_on_error=False)

    # -- search ------------------------------------------------------------------------------

    def start_search(self) -> None:
        """Open the search prompt in the pane's last row (enter searches, escape cancels)."""
        self._prompt = ""
        self.focus()
        self.refresh()

    def action_start_search(self) -> None:
        """Open the search prompt."""
        self.start_search()

    def on_key(self, event: events.Key) -> None:
        if self._prompt is None:
            return
        event.stop()
        event.prevent_default()
        if event.key == "enter":
            query, self._prompt = self._prompt, None
            self.search(query)
        elif event.key == "escape":
            self._prompt = None
        elif event.key == "backspace":
            self._prompt = self._prompt[:-1]
        elif event.key == "ctrl+u":
            self._prompt = ""
        elif event.is_printable and event.character:
            self._prompt += event.character
        self.refresh()

    def on_paste(self, event: events.Paste) -> None:
        if self._prompt is not None:
            event.stop()
            self._prompt += event.text.splitlines()[0] if event.text else ""
            self.refresh()

    def search(self, query: str) -> None:
        """Find `query` (smart case) in the shown output and go to the match nearest the view.

        The in-memory tails are searched at once, lines only in the log files in a worker.
        """
        self.search_query, self._current = query, None
        self._strips.clear()
        self.workers.cancel_group(self, "output-search")
        scans: list[tuple[int, TaskLines, int]] = []
        for number, block in enumerate(self._blocks):
            block.matches, block.searched = [], 0
            if query and block.lines is not None:
                block.searched = block.lines.first_in_memory
                if block.lines.index is not None and block.searched:
                    scans.append((number, block.lines, block.searched))
                self._search_tail(block)
        if scans:
            self._scan_logs(query, scans)
        self._step(None)

    def _search_tail(self, block: _Block) -> None:
        """Search the complete lines of `block` in memory that were not searched yet."""
        lines = block.lines
        assert lines is not None
        start, end = max(block.searched, lines.first_in_memory), lines.complete_count
        if start < end and len(block.matches) < MAX_MATCHES:
            text = "\n".join(lines.tail_lines(start)[: end - start])
            block.matches.extend(find_lines(text, self.search_query, start)[:MAX_MATCHES])
        block.searched = max(block.searched, end)

    def _scan_logs(self, query: str, scans: list[tuple[int, TaskLines, int]]) -> None:
        def scan() -> None:
            worker = get_current_worker()
            for number, lines, stop in scans:
                assert lines.index is not None
                found: list[int] = []
                for line in lines.index.search(query, stop, lambda: worker.is_cancelled):
                    found.append(line)
                    if len(found) >= MAX_MATCHES:
                        break
                if worker.is_cancelled:
                    return
                self.app.call_from_thread(self._add_log_matches, query, number, lines, found)

        self.run_worker(scan, thread=True, group="output-search", exclusive=True)

    def _add_log_matches(self, query: str, number: int, lines: TaskLines, found: list[int]) -> None:
        block = self._blocks[number] if number < len(self._blocks) else None
        if query == self.search_query and block is not None and block.lines is lines and found:
            block.matches[:0] = found
            if self._current is None:
                self._step(None)
            else:
                self._post_status()

    def _is_match(self, block: _Block, index: int) -> bool:
        at = bisect_left(block.matches, index)
        return at < len(block.matches) and block.matches[at] == index

    def _match_rows(self) -> list[tuple[int, int, int]]:
        """(row, block number, line) of every match, in row order."""
        blocks = enumerate(self._blocks)
        return [(b.row(line), number, line) for number, b in blocks for line in b.matches]

    def _step(self, direction: int | None) -> None:
        """Go to the next (1) or previous (-1) match, or (None) the first one from the top."""
        rows = self._match_rows()
        if rows and (direction is None or self._current is None):
            at = bisect_left(rows, (round(self.scroll_y), -1, -1))
            self._go_to(rows[min(at, len(rows) - 1)])
        elif rows:
            number, line = self._current or (0, 0)
            key = (self._blocks[number].row(line), number, line)
            at = bisect_right(rows, key) if direction == 1 else bisect_left(rows, key) - 1
            self._go_to(rows[at % len(rows)])
        else:
            if direction is not None:
                self.app.bell()
            self._post_status()

    def _go_to(self, match: tuple[int, int, int]) -> None:
        row, number, line = match
        self._current = (number, line)
        height = self.scrollable_content_region.height
        if not self.scroll_y <= row < self.scroll_y + height - 1:
            self.follow = False
            self.scroll_to(y=max(0, row - height // 2), animate=False, force=True)
        self._post_status()

    def _post_status(self) -> None:
        rows = self._match_rows()
        current = None
        if self._current is not None:
            number, line = self._current
            current = bisect_left(rows, (self._blocks[number].row(line), number, line))
        self.post_message(self.SearchUpdated(self, self.search_query, current, len(rows)))
        self.refresh()

    def next_match(self) -> None:
        """Go to the next match (after the last one: the first)."""
        self._step(1)

    def previous_match(self) -> None:
        """Go to the previous match (before the first one: the last)."""
        self._step(-1)

    def action_next_match(self) -> None:
        self.next_match()

    def action_previous_match(self) -> None:
        self.previous_match()

    @property
    def current_match(self) -> tuple[str, int] | None:
        """(task, line number) of the current match."""
        if self._current is None:
            return None
        number, line = self._current
        return self._blocks[number].task, line

    # -- copy --------------------------------------------------------------------------------

    def plain_text(self, limit: int | None = 50_000) -> str:
        """What the pane shows, escapes removed: the last `limit` rows (None: all of them)."""
        total = self.virtual_size.height
        first = 0 if limit is None else max(0, total - limit)
        out: list[str] = []
        for row in range(first, total):
            number, index = self._locate(row)
            block = self._blocks[number]
            if index < 0:
                header = block.header
                out.append(header.plain if isinstance(header, Text) else header or "")
            elif block.lines is not None and index < block.lines.line_count:
                out.append(strip_controls(block.lines.line(index)))
        return "\n".join(out)
