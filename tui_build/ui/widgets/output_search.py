"""Search in the output pane: the ``/`` prompt, finding matches, stepping with ``n`` / ``N``.

Kept apart from :mod:`tui_build.ui.widgets.output_pane` so the pane's module is about layout,
following and drawing. :class:`SearchMixin` is mixed into :class:`OutputPane` only: it reads the
pane's blocks and strip cache, and the pane's rendering asks it which lines to highlight.

Lines still in memory (each task's tail) are searched at once, on every refresh for new lines;
lines only in the log files are searched in a thread worker that hands its matches back to the
UI thread with ``call_from_thread``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import TYPE_CHECKING, cast

from rich.style import Style
from rich.text import Text
from textual import events
from textual.message import Message
from textual.strip import Strip
from textual.worker import get_current_worker

from ..ansi import find_lines, highlight
from ..line_store import TaskLines

if TYPE_CHECKING:
    from textual.cache import LRUCache
    from textual.reactive import var
    from textual.scroll_view import ScrollView

    from .output_pane import OutputPane, _Block

    _PaneBase = ScrollView
else:
    _PaneBase = object

MAX_MATCHES = 100_000
"""Matches kept per task: more would not help anyone stepping through with `n`."""


class SearchMixin(_PaneBase):
    """Search for :class:`OutputPane` (which defines the bindings and component classes used)."""

    # Provided by OutputPane.
    _blocks: list[_Block]
    _strips: LRUCache[tuple[str, int, str, str], Strip]
    follow: var[bool]

    search_query: str = ""
    """The current search ("" for none)."""
    _prompt: str | None = None
    """What is typed in the open search prompt; None when the prompt is closed."""
    _current: tuple[int, int] | None = None
    """(block number, line number) of the current match."""

    # The namespace keeps the handler name `on_output_pane_search_updated`, as if nested there.
    class SearchUpdated(Message, namespace="output_pane"):
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

    # -- the prompt --------------------------------------------------------------------------

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
            if event.key == "escape" and self.search_query:
                # As vim's :noh: the first escape ends the search, the next leaves the pane.
                event.stop()
                event.prevent_default()
                self.search("")
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

    def _prompt_strip(self, width: int, base: Style) -> Strip | None:
        """The open prompt as the pane's last row, None when it is closed."""
        if self._prompt is None:
            return None
        prompt = Text(
            "/" + self._prompt, style=self.get_component_rich_style("output-pane--prompt")
        )
        prompt.append(" ", style=Style(reverse=True))  # the cursor
        return Strip(prompt.render(self.app.console)).crop_extend(0, width, base).apply_style(base)

    # -- finding matches ---------------------------------------------------------------------

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

    # -- highlighting ------------------------------------------------------------------------

    def _match_class(self, number: int, block: _Block, index: int) -> str:
        """The component class that highlights line `index` of block `number` ("": no match)."""
        if not self.search_query:
            return ""
        at = bisect_left(block.matches, index)
        if at == len(block.matches) or block.matches[at] != index:
            return ""
        if self._current == (number, index):
            return "output-pane--current-match"
        return "output-pane--match"

    def _highlight(self, text: Text, match_class: str) -> None:
        """Stylize the occurrences of the query in `text` with `match_class`."""
        highlight(text, self.search_query, self.get_component_rich_style(match_class))

    # -- stepping through matches ------------------------------------------------------------

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
        pane = cast("OutputPane", self)  # the mixin's only user
        self.post_message(self.SearchUpdated(pane, self.search_query, current, len(rows)))
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
