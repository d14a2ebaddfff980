"""The failures view: every failed task with why, its last lines and its traceback.

From here `enter` jumps to the task's full output and `r` re-runs it; both close the view.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from ...events import TaskRecord
from ..widgets.failures import FailureCard


class FailuresScreen(Screen[None]):
    """A scrollable list of :class:`FailureCard`; up/down move between failures."""

    BINDINGS = [
        Binding("escape,f", "close", "Back"),
        Binding("up,k", "move(-1)", "Previous", show=False),
        Binding("down,j", "move(1)", "Next", show=False),
        Binding("enter", "open", "Full output"),
        Binding("r", "rerun", "Re-run"),
        Binding("F", "rerun_all", "Re-run all failed"),
        Binding("y", "copy", "Copy"),
    ]

    DEFAULT_CSS = """
    FailuresScreen > VerticalScroll { padding: 0 1; }
    FailuresScreen #failures-title { padding: 0 1; background: $panel; }
    FailuresScreen #no-failures { padding: 1 2; color: $success; }
    """

    class Open(Message):
        """The user wants a failed task's full output (or to re-run it)."""

        def __init__(self, task: str, rerun: bool) -> None:
            super().__init__()
            self.task = task
            """The failed task."""
            self.rerun = rerun
            """True for `r`: re-run it too."""

    def __init__(self, failures: list[TaskRecord]) -> None:
        super().__init__()
        self.failures = failures

    def compose(self) -> ComposeResult:
        count = len(self.failures)
        yield Static(
            f"[b]Failures ({count})[/b]  [dim]enter: full output · r: re-run · F: re-run all · "
            "y: copy · esc: back[/dim]",
            id="failures-title",
        )
        with VerticalScroll(id="failures"):
            if not self.failures:
                yield Static("✓ No failures.", id="no-failures")
            width = max(60, self.app.size.width - 8)
            for record in self.failures:
                yield FailureCard(record, width=width)
        yield Footer()

    def on_mount(self) -> None:
        cards = list(self.query(FailureCard))
        if cards:
            cards[0].focus()

    def _current(self) -> FailureCard | None:
        focused = self.focused
        return focused if isinstance(focused, FailureCard) else None

    def action_move(self, delta: int) -> None:
        cards = list(self.query(FailureCard))
        if not cards:
            return
        current = self._current()
        index = cards.index(current) if current in cards else -1
        card = cards[max(0, min(len(cards) - 1, index + delta))]
        card.focus()
        card.scroll_visible(top=True, animate=False)

    def action_close(self) -> None:
        self.dismiss(None)

    def _send(self, rerun: bool) -> None:
        card = self._current()
        if card is None:
            return
        self.app.post_message(self.Open(card.task_name, rerun))
        self.dismiss(None)

    def action_open(self) -> None:
        self._send(False)

    def action_rerun(self) -> None:
        self._send(True)

    def action_rerun_all(self) -> None:
        self.dismiss(None)
        self.app.call_later(self.app.run_action, "rerun_failed")

    def action_copy(self) -> None:
        card = self._current()
        if card is not None:
            copy = getattr(self.app, "action_copy_task", None)
            if copy is not None:
                copy(card.task_name)
