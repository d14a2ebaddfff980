"""Every key the dashboard knows, in one table (the footer shows only the main ones)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

_KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "space": "space",
    "enter": "enter",
    "escape": "esc",
    "ctrl+c": "ctrl+c",
}
_LONGER = {
    "rerun": "re-run the selected subtree: its failed, cancelled and blocked tasks",
    "rerun(True)": "force re-run of the whole selected subtree",
    "cancel": "cancel the selected subtree (asks when something in it runs)",
    "cancel_all": "cancel everything (asks first)",
    "rerun_failed": "re-run every failed, cancelled and blocked task",
    "failures": "failures view: why each task failed, last lines, traceback",
    "copy_task": "copy the selected task's output (OSC 52); names its log file",
    "toggle_view": "switch the dependency tree / grouped list",
    "pin": "pin the selected task's output beside the other (again: unpin)",
    "focus_tasks": "back to the task panel",
    "quit_app": "quit (asks while tasks run; the summary stays in the terminal)",
    "activate": "focus the output pane",
    "filter": "filter tasks: a name piece, or state:failed / state:running …",
    "start_search": "search the output (enter), then n / N",
}


def _keys(key: str) -> str:
    return ", ".join(_KEY_NAMES.get(k.strip(), k.strip()) for k in key.split(","))


def _rows(bindings: Iterable[BindingType]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for binding in bindings:
        if isinstance(binding, Binding):
            text = _LONGER.get(binding.action, "")
            description = binding.description or binding.action
            rows.append(
                (
                    binding.key_display or _keys(binding.key),
                    description + (f" — {text}" if text else ""),
                )
            )
        elif isinstance(binding, tuple):
            rows.append((binding[0], binding[2] if len(binding) > 2 else binding[1]))
    return rows


def help_table(sections: list[tuple[str, Iterable[BindingType]]]) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2), expand=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for title, bindings in sections:
        table.add_row(Text(title, style="bold underline"), "")
        for keys, description in _rows(bindings):
            table.add_row(keys, description)
        table.add_row("", "")
    table.add_row(Text("Mouse", style="bold underline"), "")
    table.add_row("click", "select a row (click ▸ to expand, double-click for output)")
    table.add_row("wheel", "scroll the pane under the pointer")
    return table


class HelpScreen(ModalScreen[None]):
    """The list of every binding, by where it works."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; max-width: 100%; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, sections: list[tuple[str, Iterable[BindingType]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "Keys — escape to close"
            yield Static(help_table(self.sections), id="help-table")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
