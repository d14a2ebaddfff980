"""The task panel: the dependency tree or the grouped list, one line per row, drawn lazily.

A Line-API widget (as toolong's log view): it keeps a flat list of :class:`Row` and renders only
the lines on screen, so a build of thousands of tasks costs what a screenful costs. Rows are
rebuilt only when their shape changes (expand, collapse, filter, view); a batch of events
repaints only the lines on screen whose text changed. What the rows are and say is
:mod:`.task_rows`.
"""

from __future__ import annotations

from collections.abc import Set
from typing import NamedTuple

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...events import RunSummary, TaskRecord
from .task_list import TaskFilter
from .task_row import RowContext
from .task_rows import TaskRows
from .task_tree import Row


class TaskPanel(ScrollView, can_focus=True):
    """The task tree / grouped list. Feed it with :meth:`set_summary` and :meth:`refresh_rows`."""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
        Binding("space", "toggle_row", "Expand", show=False),
        Binding("right,l", "expand(True)", "Expand", show=False),
        Binding("left,h", "expand(False)", "Collapse", show=False),
        Binding("enter", "activate", "Output"),
        Binding("slash", "filter", "Filter"),
    ]

    COMPONENT_CLASSES = {"task-panel--cursor", "task-panel--group"}

    DEFAULT_CSS = """
    TaskPanel {
        background: $surface;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
    }
    TaskPanel > .task-panel--cursor { background: $block-cursor-blurred-background; }
    TaskPanel:focus > .task-panel--cursor { background: $block-cursor-background; }
    TaskPanel > .task-panel--group { text-style: bold; }
    """

    class Highlighted(Message):
        """The cursor moved to another row."""

        def __init__(self, panel: TaskPanel, row: Row) -> None:
            super().__init__()
            self.panel = panel
            """The panel that sent it."""
            self.row = row
            """The row under the cursor."""

        @property
        def control(self) -> TaskPanel:
            return self.panel

    class Activated(Message):
        """Enter on a row: the user wants its output."""

        def __init__(self, panel: TaskPanel, row: Row) -> None:
            super().__init__()
            self.panel = panel
            """The panel that sent it."""
            self.row = row
            """The row under the cursor."""

        @property
        def control(self) -> TaskPanel:
            return self.panel

    class FilterRequested(Message):
        """`/` pressed: the container should open its filter box."""

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.model = TaskRows()
        self.cursor = 0
        self.context: RowContext | None = None
        self._style_cache: tuple[Style, Style, Style] | None = None
        self._lines: dict[int, _Drawn] = {}
        """Drawn lines by row index, with the text they were drawn from (cleared on rebuild)."""
        self._last_highlight: tuple[str, ...] | None = None

    @property
    def summary(self) -> RunSummary:
        return self.model.summary

    @property
    def view(self) -> str:
        """ "tree" or "list"."""
        return self.model.view

    @property
    def rows(self) -> list[Row]:
        return self.model.rows

    # -- model ------------------------------------------------------------------------------

    def set_summary(self, summary: RunSummary) -> None:
        """Take the tasks of a (new) build and rebuild the rows."""
        self.model.set_summary(summary)
        self.rebuild()

    def group_records(self, group: str) -> list[TaskRecord]:
        """The records of a group's tasks, in topological order."""
        return self.model.group_records(group)

    def rebuild(self) -> None:
        """Recompute the rows (after expand, collapse, filter or view changes)."""
        key = self.rows[self.cursor].key if self.rows else None
        self.model.rebuild()
        self._lines.clear()
        rows = self.rows
        index = next((i for i, r in enumerate(rows) if r.key == key), None) if key else None
        if index is None and key is not None:
            # The row went away (view switched, filtered): stay on the same task if it is shown.
            task = self.model.task_of_key(key)
            index = next((i for i, r in enumerate(rows) if r.task == task), None)
        self.cursor = min(index if index is not None else self.cursor, max(0, len(rows) - 1))
        self.virtual_size = Size(self.size.width, len(rows))
        self.refresh()
        self._ensure_visible()
        self._announce()

    def refresh_rows(self, context: RowContext, changed: Set[str]) -> None:
        """Redraw what a batch of events (or the clock) changed among the lines on screen.

        Only visible rows are looked at, and only those whose text can have moved: a changed
        task, a running one (its time), a waiting one (what it waits on), a group with a
        changed member. A line is repainted only when its text differs from what is drawn, so
        a build of thousands of tasks costs a screenful per tick. Rows off screen are drawn
        afresh when scrolled into view (:meth:`render_line` compares texts as well).
        """
        self.context = context
        if self.model.filter_moved(changed):
            self.rebuild()
            return
        model = self.model
        tasks = model.summary.tasks
        groups = {model.group_of(n) for n in changed if n in tasks} if self.view == "list" else ()
        width = self.scrollable_content_region.width
        top = round(self.scroll_offset.y)
        bottom = min(len(self.rows), top + self.scrollable_content_region.height)
        for index in range(top, bottom):
            drawn = self._lines.get(index)
            row = self.rows[index]
            if drawn is not None:
                if row.task is None:
                    if row.group not in groups:
                        continue
                else:
                    record = tasks.get(row.task)
                    if record is not None and record.state.finished and row.task not in changed:
                        continue
                if drawn.text == model.text(row, width, context):
                    continue
            self.refresh_line(index)

    # -- questions --------------------------------------------------------------------------

    @property
    def row(self) -> Row | None:
        """The row under the cursor."""
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    @property
    def selected_task(self) -> str | None:
        row = self.row
        return row.task if row is not None else None

    def row_tasks(self, row: Row) -> list[str]:
        """The tasks a row stands for: a group's members, or the task and its whole subtree."""
        return self.model.row_tasks(row)

    def visible_text(self) -> list[str]:
        """Every row as plain text (tests, copy)."""
        return [self.model.text(row, 200, self.context).plain.rstrip() for row in self.rows]

    # -- commands ---------------------------------------------------------------------------

    def toggle_view(self) -> None:
        self.model.view = "list" if self.view == "tree" else "tree"
        self.rebuild()

    def set_filter(self, text: str) -> None:
        self.model.filter = TaskFilter.parse(text)
        self.rebuild()

    def select_task(self, name: str) -> bool:
        """Put the cursor on the first row of `name` (clearing a filter that hides it)."""
        index = next((i for i, r in enumerate(self.rows) if r.task == name), None)
        if index is None and self.view == "list" and self.model.open_group_of(name):
            self.rebuild()
            index = next((i for i, r in enumerate(self.rows) if r.task == name), None)
        if index is None and self.view == "tree":
            self.model.view = "list"  # a task deep under a collapsed node: the list shows it
            self.rebuild()
            return self.select_task(name)
        if index is None:
            return False
        self._move(index)
        return True

    def action_cursor(self, delta: int) -> None:
        self._move(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move(self.cursor + direction * max(1, self.scrollable_content_region.height - 1))

    def action_jump(self, where: int) -> None:
        self._move(len(self.rows) - 1 if where < 0 else 0)

    def action_toggle_row(self) -> None:
        row = self.row
        if row is not None and row.expandable:
            self._set_open(row, not row.expanded)

    def action_expand(self, expand: bool) -> None:
        row = self.row
        if row is None:
            return
        if row.expandable and row.expanded != expand:
            self._set_open(row, expand)
        elif not expand and row.depth > 0:
            # Left on a leaf (or a closed node) goes to its parent, as in file trees.
            parent = next(
                (i for i in range(self.cursor - 1, -1, -1) if self.rows[i].depth < row.depth), None
            )
            if parent is not None:
                self._move(parent)
        elif expand and row.expandable:
            self._move(self.cursor + 1)

    def action_activate(self) -> None:
        row = self.row
        if row is not None:
            self.post_message(self.Activated(self, row))

    def action_filter(self) -> None:
        self.post_message(self.FilterRequested())

    def _set_open(self, row: Row, open_: bool) -> None:
        self.model.set_open(row, open_)
        self.rebuild()

    def _move(self, index: int) -> None:
        if not self.rows:
            return
        before, self.cursor = self.cursor, max(0, min(index, len(self.rows) - 1))
        self.refresh_line(before)  # only the two lines the cursor left and reached change
        self.refresh_line(self.cursor)  # (a scroll repaints the whole panel anyway)
        self._ensure_visible()
        self._announce()

    def _ensure_visible(self) -> None:
        """Scroll the cursor into view. Forced: right after the rows grow, Textual has not yet
        noticed that the panel can scroll (its scrollbar appears with the next layout)."""
        height = self.scrollable_content_region.height
        if height <= 0:
            return
        top = round(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True, force=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True, force=True)

    def _announce(self) -> None:
        row = self.row
        if row is not None and row.key != self._last_highlight:
            self._last_highlight = row.key
            self.post_message(self.Highlighted(self, row))

    # -- mouse ------------------------------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        index = event.y + round(self.scroll_offset.y)
        if 0 <= index < len(self.rows):
            row = self.rows[index]
            if row.expandable and row.depth * 2 <= event.x <= row.depth * 2 + 1:
                self._move(index)
                self._set_open(row, not row.expanded)
            else:
                self._move(index)
            if event.chain == 2:
                self.post_message(self.Activated(self, row))

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self.rows))
        self._ensure_visible()

    # -- drawing ----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = y + round(self.scroll_offset.y)
        if not (0 <= index < len(self.rows)):
            return Strip.blank(width, self._styles()[0])
        row = self.rows[index]
        text = self.model.text(row, width, self.context)
        cursor = index == self.cursor
        drawn = self._lines.get(index)
        if drawn is not None and (drawn.text, drawn.cursor, drawn.width) == (text, cursor, width):
            return drawn.strip
        strip = self._render_row(row, index, text.copy(), cursor, width)
        self._lines[index] = _Drawn(text, cursor, width, strip)
        return strip

    def _render_row(self, row: Row, index: int, text: Text, cursor: bool, width: int) -> Strip:
        plain, cursor_style, group = self._styles()
        base = cursor_style if cursor else plain
        if row.task is None:
            base = base + group
        if cursor and row.task is not None:
            # Coloured details on the cursor's background are hard to read: keep the symbol's
            # colour (the state stays visible) and draw the rest in the cursor's own colours.
            symbol_at = row.depth * 2 + 2
            spans = [s for s in text.spans if s.start <= symbol_at < s.end]
            text = Text(text.plain, no_wrap=True, overflow="ellipsis", end="", spans=spans)
        text.stylize_before(base)
        segments = list(text.render(self.app.console))
        strip = Strip(segments).crop_extend(0, width, base)
        meta = Style(meta={"row": index})
        return strip.apply_style(meta) if segments else Strip([Segment(" " * width, base)])

    def _styles(self) -> tuple[Style, Style, Style]:
        """The base, cursor and group-row styles, resolved once (rich_style is not cheap)."""
        if self._style_cache is None:
            plain = self.rich_style
            cursor = plain + self.get_component_rich_style("task-panel--cursor")
            group = self.get_component_rich_style("task-panel--group", partial=True)
            self._style_cache = (plain, cursor, group)
        return self._style_cache

    def _restyle(self) -> None:
        """Colours changed (focus, theme): every line is drawn again."""
        self._style_cache = None
        self._lines.clear()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._restyle()

    def on_focus(self) -> None:
        self._restyle()

    def on_blur(self) -> None:
        self._restyle()


class _Drawn(NamedTuple):
    """One drawn line of the panel and what it was drawn from."""

    text: Text
    cursor: bool
    width: int
    strip: Strip
