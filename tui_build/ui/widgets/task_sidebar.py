"""The task panel with what goes around it: a one-line filter box and the selected row in full."""

from __future__ import annotations

from collections.abc import Set

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from .task_panel import TaskPanel
from .task_row import RowContext, counts_text, summary_line


class FilterInput(Input):
    """The filter box under the task panel; escape clears and closes it."""

    BINDINGS = [Binding("escape", "close", "Close filter", show=False)]

    class Closed(Message):
        """Escape: the filter was cleared."""

    def action_close(self) -> None:
        self.value = ""
        self.post_message(self.Closed())


class TaskSidebar(Vertical):
    """The task panel with its filter box (hidden until `/`)."""

    DEFAULT_CSS = """
    TaskSidebar FilterInput { display: none; height: 1; border: none; padding: 0 1; }
    TaskSidebar #task-detail {
        height: 3; padding: 0 1;
        background: $boost; border-top: solid $primary 30%;
    }
    TaskSidebar.-filtering FilterInput { display: block; }
    """

    _detail = Text()
    _detail_key: tuple[str, ...] | None = None

    def compose(self) -> ComposeResult:
        yield TaskPanel(id="task-panel")
        yield Static(id="task-detail")
        yield FilterInput(placeholder="filter: name, or state:failed", id="task-filter")

    @property
    def panel(self) -> TaskPanel:
        return self.query_one(TaskPanel)

    def on_task_panel_filter_requested(self, event: TaskPanel.FilterRequested) -> None:
        event.stop()
        self.add_class("-filtering")
        self.query_one(FilterInput).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.panel.set_filter(event.value)
        self._title()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            self.remove_class("-filtering")
        self.panel.focus()

    def on_filter_input_closed(self, event: FilterInput.Closed) -> None:
        event.stop()
        self.remove_class("-filtering")
        self.panel.set_filter("")
        self._title()
        self.panel.focus()

    def _title(self) -> None:
        panel = self.panel
        view = "dependency tree" if panel.view == "tree" else "grouped list"
        self.border_title = f"Tasks · {view}"
        value = self.query_one(FilterInput).value
        self.border_subtitle = (
            f"filter: {value}" if value else f"{len(panel.summary.tasks)} tasks · t: switch view"
        )

    def show_detail(self, context: RowContext, changed: Set[str] | None = None) -> None:
        """Say in full what the selected row is (rows are cut to the panel's width).

        With `changed` (the tasks a batch changed), a group row already shown is recounted
        only when one of its members is among them: a group may hold thousands of tasks.
        """
        panel = self.panel
        row = panel.row
        text = Text()
        if row is not None and row.task is None:
            same = row.key == self._detail_key and changed is not None
            if same and not any(panel.model.group_of(n) == row.group for n in changed or ()):
                return
            members = panel.group_records(row.group or "")
            text = Text(f"group {row.group}: {len(members)} tasks  ", style="bold")
            text.append_text(counts_text(members))
        elif row is not None and row.task in panel.summary.tasks:
            text = summary_line(panel.summary.tasks[row.task], context)
        self._detail_key = row.key if row is not None else None
        if text != self._detail:  # an update re-lays out the sidebar: only when it changed
            self._detail = text
            self.query_one("#task-detail", Static).update(text, layout=False)

    def update_title(self) -> None:
        self._title()
