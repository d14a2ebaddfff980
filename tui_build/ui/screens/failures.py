"""The failures view: every failed task with why, its last lines and its traceback.

From here `enter` jumps to the task's full output and `r` re-runs it; both close the view. The
view stays live while open (:meth:`FailuresScreen.refresh_failures`, called by the app on every
batch of events): a failed task re-run from elsewhere (`F`, another screen) says "re-running…",
its card goes once it succeeds, comes back explained anew if it fails again, and new failures
appear as they happen.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from ...events import RunSummary, TaskState
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
    FailuresScreen #no-failures.-hidden { display: none; }
    """

    class Open(Message):
        """The user wants a failed task's full output (or to re-run it)."""

        def __init__(self, task: str, rerun: bool) -> None:
            super().__init__()
            self.task = task
            """The failed task."""
            self.rerun = rerun
            """True for `r`: re-run it too."""

    def __init__(self, summary: RunSummary) -> None:
        super().__init__()
        self.summary = summary

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="failures-title")
        with VerticalScroll(id="failures"):
            failures = self.summary.failures
            yield Static(
                "✓ No failures.", id="no-failures", classes="" if not failures else "-hidden"
            )
            for record in failures:
                yield FailureCard(record, width=self._card_width())
        yield Footer()

    def _card_width(self) -> int:
        return max(60, self.app.size.width - 8)

    def _title(self) -> str:
        cards = list(self.query(FailureCard)) if self.is_mounted else []
        count = sum(1 for c in cards if not c.rerunning) if cards else len(self.summary.failures)
        again = sum(1 for c in cards if c.rerunning)
        extra = f", {again} re-running" if again else ""
        return (
            f"[b]Failures ({count}{extra})[/b]  [dim]enter: full output · r: re-run · "
            "F: re-run all · y: copy · esc: back[/dim]"
        )

    async def refresh_failures(self, changed: set[str]) -> None:
        """Follow the build: cards of re-run tasks update or go, new failures join."""
        cards = {c.task_name: c for c in self.query(FailureCard)}
        touched = False
        gone = []
        for name, card in cards.items():
            if name not in changed:
                continue
            state = card.record.state
            if state is TaskState.FAILED:
                card.show_failure(self._card_width())
            elif state.finished:  # succeeded (or cancelled, blocked): no longer a failure
                gone.append(card)
            else:
                card.show_rerunning()
            touched = True
        if gone:
            await self.query_one("#failures", VerticalScroll).remove_children(gone)
        new = [r for r in self.summary.failures if r.info.name not in cards]
        if new:
            await self.query_one("#failures", VerticalScroll).mount_all(
                FailureCard(record, width=self._card_width()) for record in new
            )
            touched = True
        if touched:
            self._after_change()

    def _after_change(self) -> None:
        cards = list(self.query(FailureCard))
        self.query_one("#no-failures").set_class(bool(cards), "-hidden")
        self.query_one("#failures-title", Static).update(self._title())
        if cards and self._current() is None:
            cards[0].focus()

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
