"""The output pane: one task's output, or a group's, following live and scrolling back to line 0.

Task output can run to millions of lines arriving in bursts, so the pane is a Line API widget
(``ScrollView`` + ``render_line``, as toolong does): it holds no lines itself and draws only the
visible rows from the :class:`~tui_build.ui.line_store.OutputStore`, decoding SGR colours per
visible line (cached) and dropping every other escape (:mod:`tui_build.ui.ansi`). The app calls
:meth:`OutputPane.refresh_lines` every ~80 ms; that costs one comparison when nothing changed.

Rows are blocks, one per shown task: an optional header row (group view), then the task's lines.
Search (``/``) lives in :mod:`tui_build.ui.widgets.output_search`, mixed in as :class:`SearchMixin`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, KeysView, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
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

from ..ansi import decode_line, strip_controls
from ..line_store import INDEX_STEP, OutputStore, TaskLines
from .output_search import SearchMixin


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


class OutputPane(SearchMixin, ScrollView, can_focus=True):
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
    # All the pane's keys, search's too: the help screen lists OutputPane.BINDINGS.
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
        self._by_task: dict[str, _Block] = {}
        self._starts: list[int] = []
        self._seen = -1
        self._width = 0
        self._strips: LRUCache[tuple[str, int, str, str], Strip] = LRUCache(1024)
        """Drawn lines by (raw line, characters clipped, query if matched, match class)."""
        self._indexing: set[tuple[int, int]] = set()
        self._base: Style | None = None

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

    @property
    def tasks(self) -> KeysView[str]:
        """The tasks whose output the pane shows."""
        return self._by_task.keys()

    def shows_any(self, tasks: Iterable[str]) -> bool:
        return not self._by_task.keys().isdisjoint(tasks)

    def set_headers(self, headers: Mapping[str, str | Text]) -> None:
        """New headers for some of the shown tasks (group view); only changed rows repaint."""
        for task, header in headers.items():
            block = self._by_task.get(task)
            if block is not None and block.header is not None and block.header != header:
                block.header = header
                self.refresh_lines(block.start)

    def _show(self, blocks: list[_Block]) -> None:
        self._blocks = blocks
        self._by_task = {b.task: b for b in blocks}
        self._starts = []
        self._seen = -1
        self._width = 0
        self._current = None
        self.refresh_lines()
        if self.search_query:
            self.search(self.search_query)
        self.follow = True
        self.scroll_end(animate=False, immediate=True, force=True)

    def refresh_lines(
        self, y_start: int | None = None, line_count: int = 1, *, tasks: Iterable[str] = ()
    ) -> None:
        """Take in new output: update the size, and keep following the end if at the bottom.

        Cheap when nothing changed. With `tasks`, only those tasks' blocks are looked at (the
        ones fed since the last call): a group of thousands costs what its busy tasks cost.
        (With `y_start`, ScrollView's meaning: repaint those rows.)
        """
        if y_start is not None:
            super().refresh_lines(y_start, line_count)
            return
        if not self.store.changed_since(self._seen):
            return
        self._seen = self.store.version
        blocks = [self._by_task[t] for t in tasks if t in self._by_task] or self._blocks
        known = sum(len(b.matches) for b in blocks)
        moved = not self._starts
        for block in blocks:
            lines = self.store.get(block.task)
            if lines is not block.lines:  # a new attempt: its matches and width are stale
                block.lines, block.matches, block.searched = lines, [], 0
                self._width, moved = 0, True  # regrows as lines are drawn
            rows = (lines.line_count if lines else 0) + (block.header is not None)
            moved = moved or rows != block.rows
            block.rows = rows
            if self.search_query and lines is not None and lines.complete_count > block.searched:
                self._search_tail(block)
        if moved:
            self._starts = list(accumulate((b.rows for b in self._blocks), initial=0))
            for block, start in zip(self._blocks, self._starts, strict=False):
                block.start = start
            self.virtual_size = Size(self._width, self._starts.pop())
        if self.search_query and sum(len(b.matches) for b in blocks) != known:
            self._post_status()
        if self.follow:
            self.scroll_end(animate=False, immediate=True, force=True, x_axis=False)
        if moved:
            self.refresh()
        else:  # nothing moved: repaint only the blocks that took output (an open line grew)
            for block in blocks:
                super().refresh_lines(block.start, block.rows)

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
        self._base = None

    def on_focus(self) -> None:
        self._base = None

    def on_blur(self) -> None:
        self._base = None

    @property
    def _base_style(self) -> Style:
        """The pane's own style, resolved once per style change (`rich_style` walks every
        ancestor's styles; every drawn line needs it)."""
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def _locate(self, row: int) -> tuple[int, int]:
        """(block number, line number) of a row; line -1 is the block's header."""
        number = bisect_right(self._starts, row) - 1
        block = self._blocks[number]
        return number, row - block.start - (block.header is not None)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        region = self.scrollable_content_region
        base = self._base_style
        prompt = self._prompt_strip(region.width, base) if y == region.height - 1 else None
        if prompt is not None:
            return prompt
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
            return self._header_strip(block.header, scroll_x, region.width)
        strip = self._line_strip(number, block, index)
        if strip.cell_length > self._width:
            self._width = strip.cell_length
            self.call_after_refresh(self._grow_width)
        return self._fit(strip, scroll_x, region.width, base)

    def _header_strip(self, header: str | Text | None, x: int, width: int) -> Strip:
        """A block's header row; drawn once per text (a group may show thousands of them, and
        a following pane repaints them every time output arrives)."""
        key = (header, x, str(width), "\0header") if isinstance(header, str) else None
        strip = self._strips.get(key) if key is not None else None
        if strip is None:
            text = header if isinstance(header, Text) else Text(header or "")
            style = self.get_component_rich_style("output-pane--header")
            strip = Strip(text.render(self.app.console), text.cell_len)
            strip = strip.crop_extend(x, x + width, style).apply_style(style)
            if key is not None:
                self._strips.set(key, strip)
        return strip

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
        colours = lines.sgr_prefix(index)  # a colour turned on lines before still holds
        if colours:
            raw = colours + raw
        match = self._match_class(number, block, index)
        key = (raw, clipped, self.search_query if match else "", match)
        strip = self._strips.get(key)
        if strip is None:
            text = decode_line(raw)
            if match:
                self._highlight(text, match)
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
