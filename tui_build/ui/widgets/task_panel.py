"""The task panel: the dependency tree or the grouped list, one line per row, drawn lazily.

A Line-API widget (as toolong's log view): it keeps a flat list of :class:`Row` and renders only
the lines on screen, so a build of thousands of tasks costs what a screenful costs. Rows are
rebuilt only when their shape changes (expand, collapse, filter, view); a state change just
redraws the visible lines.
"""

from __future__ import annotations

from collections.abc import Callable

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
from .task_list import TaskFilter, group_rows
from .task_row import SHARED_MARK, RowContext, counts_text, detail, state_text
from .task_tree import Row, count_parents, subtree_matches, tree_rows


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
        self.view = "tree"
        self.rows: list[Row] = []
        self.cursor = 0
        self.summary = RunSummary()
        self.context: RowContext | None = None
        self.filter = TaskFilter.parse("")
        self._tree_open: dict[tuple[str, ...], bool] = {}
        self._groups_closed: dict[str, bool] = {}
        self._parents: dict[str, int] = {}
        self._roots: list[str] = []
        self._groups: dict[str, list[str]] = {}
        self._longest: int | None = None
        self._style_cache: tuple[Style, Style, Style] | None = None
        self._version = 0
        """Bumped whenever what rows say may have changed; cached lines of older versions are
        redrawn. Moving the cursor redraws two lines, not the panel."""
        self._lines: dict[int, tuple[tuple[int, int, bool, int], Strip]] = {}
        self._last_highlight: tuple[str, ...] | None = None

    # -- model ------------------------------------------------------------------------------

    def set_summary(self, summary: RunSummary) -> None:
        """Take the tasks of a (new) build and rebuild the rows."""
        self.summary = summary
        names = list(summary.tasks)
        needed = {d for n in names for d in self._deps(n)}
        # A target that another task needs shows up under it: only the others are roots.
        self._roots = [t for t in summary.targets if t in summary.tasks and t not in needed]
        if not self._roots:
            self._roots = [n for n in names if n not in needed] or names[-1:]
        self._parents = count_parents(names, self._deps, self._roots)
        self._groups = {}
        for name in names:
            self._groups.setdefault(self._group(name), []).append(name)
        self.rebuild()

    def group_records(self, group: str) -> list[TaskRecord]:
        """The records of a group's tasks, in topological order."""
        tasks = self.summary.tasks
        return [tasks[n] for n in self._groups.get(group, ())]

    def _deps(self, name: str) -> tuple[str, ...]:
        record = self.summary.tasks.get(name)
        return record.info.deps if record is not None else ()

    def _group(self, name: str) -> str:
        return self.summary.tasks[name].info.group

    def _matches(self, name: str) -> bool:
        return self.filter.matches(name, self.summary.tasks[name].state)

    def rebuild(self) -> None:
        """Recompute the rows (after expand, collapse, filter or view changes)."""
        key = self.rows[self.cursor].key if self.rows else None
        names = list(self.summary.tasks)
        match: Callable[[str], bool] | None = self._matches if self.filter else None
        if self.view == "tree":
            keep = None
            if match is not None:
                kept = subtree_matches(names, self._deps, match)
                keep = kept.__contains__
            self.rows = tree_rows(self._deps, self._roots, self._parents, self._tree_open, keep)
        else:
            self.rows = group_rows(names, self._group, self._groups_closed, match)
        self._longest = None
        self._invalidate()
        index = next((i for i, r in enumerate(self.rows) if r.key == key), None) if key else None
        if index is None and key is not None:
            # The row went away (view switched, filtered): stay on the same task if it is shown.
            task = self._task_of_key(key)
            index = next((i for i, r in enumerate(self.rows) if r.task == task), None)
        self.cursor = min(index if index is not None else self.cursor, max(0, len(self.rows) - 1))
        self.virtual_size = Size(self.size.width, len(self.rows))
        self.refresh()
        self._ensure_visible()
        self._announce()

    def _task_of_key(self, key: tuple[str, ...]) -> str | None:
        if self.view == "tree":  # the key was a list key
            return key[1] if key[0] == "task" else None
        return key[-1]

    def refresh_rows(self, context: RowContext, changed: set[str]) -> None:
        """Redraw after a batch of events: rebuild only if the filter depends on states."""
        self.context = context
        if self.filter.states and changed:
            self.rebuild()
        else:
            self._invalidate()
            self.refresh()

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
        if row.task is None:
            return list(self._groups.get(row.group or "", ()))
        subtree: set[str] = set()
        stack = [row.task]
        while stack:
            name = stack.pop()
            if name not in subtree:
                subtree.add(name)
                stack.extend(self._deps(name))
        return [n for n in self.summary.tasks if n in subtree]

    def visible_text(self) -> list[str]:
        """Every row as plain text (tests, copy)."""
        return [self._row_text(row, 200).plain.rstrip() for row in self.rows]

    # -- commands ---------------------------------------------------------------------------

    def toggle_view(self) -> None:
        self.view = "list" if self.view == "tree" else "tree"
        self.rebuild()

    def set_filter(self, text: str) -> None:
        self.filter = TaskFilter.parse(text)
        self.rebuild()

    def select_task(self, name: str) -> bool:
        """Put the cursor on the first row of `name` (clearing a filter that hides it)."""
        index = next((i for i, r in enumerate(self.rows) if r.task == name), None)
        if index is None and self.view == "list":
            group = self._group(name) if name in self.summary.tasks else None
            if group is not None and self._groups_closed.get(group):
                self._groups_closed[group] = False
                self.rebuild()
                index = next((i for i, r in enumerate(self.rows) if r.task == name), None)
        if index is None and self.view == "tree":
            self.view = "list"  # a task deep under a collapsed node: the list always shows it
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
        if row.task is None and row.group is not None:
            self._groups_closed[row.group] = not open_
        else:
            self._tree_open[row.key] = open_
        self.rebuild()

    def _move(self, index: int) -> None:
        if not self.rows:
            return
        self.cursor = max(0, min(index, len(self.rows) - 1))
        self._ensure_visible()
        self.refresh()
        self._announce()

    def _ensure_visible(self) -> None:
        height = self.scrollable_content_region.height
        if height <= 0:
            return
        top = round(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

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
        key = (self._version, index, index == self.cursor, width)
        cached = self._lines.get(index)
        if cached is not None and cached[0] == key:
            return cached[1]
        strip = self._render_row(index, width)
        self._lines[index] = (key, strip)
        return strip

    def _render_row(self, index: int, width: int) -> Strip:
        row = self.rows[index]
        text = self._row_text(row, width)
        plain, cursor, group = self._styles()
        base = cursor if index == self.cursor else plain
        if row.task is None:
            base = base + group
        if index == self.cursor and row.task is not None:
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

    def _invalidate(self) -> None:
        self._version += 1
        if len(self._lines) > 4096:
            self._lines.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache = None
        self._invalidate()

    def on_focus(self) -> None:
        self._style_cache = None
        self._invalidate()
        self.refresh()

    def on_blur(self) -> None:
        self._style_cache = None
        self._invalidate()
        self.refresh()

    def _name_column(self, width: int) -> int:
        """Where details start: after the longest name, at most half the width."""
        if self._longest is None:  # once per rebuild, not once per line
            self._longest = max(
                (
                    r.depth * 2 + 4 + len(r.task or r.group or "") + (2 if r.shared else 0)
                    for r in self.rows
                ),
                default=0,
            )
        return min(self._longest + 2, max(16, width // 2))

    def _row_text(self, row: Row, width: int) -> Text:
        indent = "  " * row.depth
        arrow = ("▾ " if row.expanded else "▸ ") if row.expandable else "  "
        text = Text(indent + arrow, no_wrap=True, overflow="ellipsis", end="")
        if row.task is None:
            members = self.group_records(row.group or "")
            done = sum(1 for r in members if r.state.finished)
            text.append(row.group or "", style="bold")
            text.append(f"  {done}/{len(members)}  ", style="dim")
            text.append_text(counts_text(members))
            return text
        record = self.summary.tasks.get(row.task)
        if record is None:
            text.append(row.task)
            return text
        text.append_text(state_text(record.state))
        text.append(" ")
        text.append(row.task, style="bold" if record.info.target else "")
        if row.shared:
            text.append(f" {SHARED_MARK}", style="dim")
        if self.context is not None:
            more = detail(record, self.context)
            if more:
                column = self._name_column(width)
                text.pad_right(max(1, column - text.cell_len))
                text.append_text(more)
        return text
