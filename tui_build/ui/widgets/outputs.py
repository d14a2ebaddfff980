"""The output area: the selected row's output, and a second pane for a pinned task.

Decides what a row means for output (one task, or a group / target shown as its tasks' outputs
under headers, in topological order), keeps a pinned task beside it, and says in the panes'
subtitles where a search stands and whether the pane still follows the end.
"""

from __future__ import annotations

from collections.abc import Set
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content

from ...events import RunSummary
from ...logs import strip_escapes
from ..line_store import OutputStore
from .output_pane import OutputPane
from .panes import TaskOutputPane
from .task_panel import TaskPanel
from .task_row import RowContext, header
from .task_tree import Row


class OutputArea(Horizontal):
    """The main output pane and the pinned one (hidden until `p`)."""

    def __init__(self, store: OutputStore, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.shown: tuple[str, ...] = ()
        """What the main pane shows: ("task", name) or ("group", title, *names)."""
        self.pinned: str | None = None

    def compose(self) -> ComposeResult:
        yield TaskOutputPane(self.store, id="output")
        yield TaskOutputPane(self.store, id="pinned")

    @property
    def main(self) -> OutputPane:
        return self.query_one("#output", OutputPane)

    @property
    def pinned_pane(self) -> OutputPane:
        return self.query_one("#pinned", OutputPane)

    def refresh_panes(self, fed: Set[str]) -> None:
        """Take in new output of the `fed` tasks (called once per UI tick): a pane showing
        none of them has nothing to redraw, however busy the rest of the build is."""
        if not fed:
            return
        for pane in self.query(OutputPane):
            if pane.display and pane.shows_any(fed):
                pane.refresh_lines(tasks=fed)

    def show_row(
        self, row: Row, panel: TaskPanel, summary: RunSummary, context: RowContext
    ) -> None:
        """A task's output, or a group's / a target's tasks under their headers."""
        is_group = row.task is None or (panel.view == "tree" and row.depth == 0 and row.expandable)
        if not is_group and row.task is not None:
            if self.shown != ("task", row.task):
                self.shown = ("task", row.task)
                self.main.show_task(row.task)
            return
        names = [n for n in panel.row_tasks(row) if n in summary.tasks]
        title = f"group {row.group}" if row.task is None else f"{row.task} and its dependencies"
        self.shown = ("group", title, *names)
        self.main.show_group(title, [(n, header(summary.tasks[n], context)) for n in names])

    def update_headers(self, names: Set[str], summary: RunSummary, context: RowContext) -> None:
        """New headers for those of `names` the main pane shows under a header (a group)."""
        if self.shown and self.shown[0] == "group":
            self.main.set_headers(
                {n: header(summary.tasks[n], context) for n in self.main.tasks & names}
            )

    def toggle_pin(self, task: str | None) -> str:
        """Pin `task` beside the main pane (again, or with nothing selected: unpin)."""
        pane = self.pinned_pane
        if self.pinned is not None and (task is None or task == self.pinned):
            self.pinned = None
            pane.display = False
            return "Unpinned"
        if task is None:
            return "Select a task to pin its output"
        self.pinned = task
        pane.show_task(task)
        pane.display = True
        pane.border_title = Content(f"📌 {task}")
        return f"Pinned {task} — p again to unpin"

    def text_of(self, task: str, log_path: str | None) -> str:
        """A task's whole output as plain text: from its log, else from what the pane holds."""
        if log_path and Path(log_path).exists():
            return strip_escapes(Path(log_path).read_text(errors="replace"))
        if self.shown == ("task", task):
            return self.main.plain_text()
        return ""

    def on_output_pane_search_updated(self, message: OutputPane.SearchUpdated) -> None:
        pane = message.pane
        query = message.query
        if not query:
            pane.border_subtitle = ""
        elif message.total == 0:
            pane.border_subtitle = Content(f"/{query}: no match")
        else:
            current = "?" if message.current is None else str(message.current + 1)
            pane.border_subtitle = Content(
                f"/{query}: {current} of {message.total} · n next · N previous"
            )

    def on_output_pane_follow_changed(self, message: OutputPane.FollowChanged) -> None:
        pane = message.pane
        if not getattr(pane, "search_query", ""):
            pane.border_subtitle = "" if message.following else "scrolled back · End: follow"
