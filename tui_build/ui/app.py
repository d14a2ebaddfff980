"""The dashboard: one more frontend on the engine, as a Textual app.

The CLI starts the build first and imports this module only then (:mod:`.launch`); when the app
closes, the launcher stops the engine, records the run and prints the console summary to the
real terminal, so nothing is lost with the screen. :func:`make_app` builds the app the same way
for the CLI, the tests and the screenshot script.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Set
from typing import TYPE_CHECKING

from .feed import Batch, EventFeed

if TYPE_CHECKING:
    from ..engine import Engine
    from ..graph import Graph

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen

from ..events import Cancel, CancelAll, Command, Rerun, RerunFailed, TaskState
from .line_store import OutputStore
from .messages import BuildUpdated
from .widgets.header import BuildHeader
from .widgets.output_pane import OutputPane
from .widgets.outputs import OutputArea
from .widgets.task_panel import TaskPanel
from .widgets.task_row import RowContext
from .widgets.task_sidebar import TaskSidebar
from .widgets.task_tree import Row

TICK = 0.08


class TuiBuildApp(App[None]):
    """The live dashboard of one build."""

    CSS_PATH = "app.tcss"
    TITLE = "tuibuild"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS = [
        Binding("r", "rerun", "Re-run"),
        Binding("c", "cancel", "Cancel"),
        Binding("f", "failures", "Failures"),
        Binding("y", "copy_task", "Copy"),
        Binding("t", "toggle_view", "Tree/list"),
        Binding("R", "rerun(True)", "Force re-run", show=False),
        Binding("F", "rerun_failed", "Re-run failed", show=False),
        Binding("x", "cancel_all", "Cancel all", show=False),
        Binding("p", "pin", "Pin output", show=False),
        Binding("escape", "focus_tasks", "Tasks", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit_app", "Quit"),
        Binding("ctrl+c", "quit_app", "Quit", show=False),
    ]

    _DASHBOARD_ACTIONS = frozenset(
        {
            "cancel",
            "rerun",
            "rerun_failed",
            "cancel_all",
            "toggle_view",
            "failures",
            "pin",
            "copy_task",
            "focus_tasks",
        }
    )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Dashboard keys work on the dashboard only (not under the failures or help screens)."""
        return action not in self._DASHBOARD_ACTIONS or self.screen is self._main

    def __init__(
        self,
        graph: Graph | None,
        bridge: EventFeed,
        *,
        exit_on_finish: bool = False,
        clock: Callable[[], float] = time.time,
        system_stats: bool = True,
        start: bool = True,
        tick: float = TICK,
    ) -> None:
        super().__init__()
        self.graph = graph
        self.bridge = bridge
        self.summary = bridge.summary
        self.store = OutputStore()
        self.exit_on_finish = exit_on_finish
        self.clock = clock
        self.system_stats = system_stats
        self._start = start
        self._tick_seconds = tick
        self._has_tasks = False
        self._announced_end = False
        self._main_screen: Screen[object] | None = None

    # -- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield BuildHeader(durations=self.bridge.durations, id="header")
        with Horizontal(id="main"):
            yield TaskSidebar(id="tasks")
            yield OutputArea(self.store, id="outputs")
        from textual.widgets import Footer

        yield Footer(compact=True, show_command_palette=False)

    @property
    def _main(self) -> Screen[object]:
        """The dashboard's own screen (others, such as the failures view, may be on top)."""
        if self._main_screen is None:
            self._main_screen = self.screen_stack[0]
        return self._main_screen

    @property
    def panel(self) -> TaskPanel:
        return self._main.query_one(TaskPanel)

    @property
    def outputs(self) -> OutputArea:
        return self._main.query_one(OutputArea)

    @property
    def output(self) -> OutputPane:
        return self.outputs.main

    def on_mount(self) -> None:
        self._main.query_one(BuildHeader).past_run = self.bridge.past
        self._main.query_one(TaskSidebar).update_title()
        self.panel.focus()
        if self._start and not self.bridge.threaded:
            self.bridge.start()
        self.set_interval(self._tick_seconds, self.tick)
        if self.system_stats:
            header = self._main.query_one(BuildHeader)
            # After the first frame: importing psutil and reading /proc can wait for it.
            self.call_after_refresh(header.sample_system)
            self.set_interval(1.0, header.sample_system)
        self.tick()

    async def on_unmount(self) -> None:
        if not self.bridge.threaded:
            await self.bridge.aclose()

    # -- the tick: drain, fold, refresh once ---------------------------------------------------

    def tick(self) -> None:
        """Drain the engine's events (the one adapter to messages) and refresh the live parts."""
        batch = self.bridge.drain()
        if batch:
            self._apply(batch)
            self.post_message(BuildUpdated(batch))
        elif self.bridge.tally.any_running:
            self._refresh_live()  # elapsed times and stall detection move on their own

    def _apply(self, batch: Batch) -> None:
        store = self.store
        for task, log_path in batch.attempts:
            store.start_attempt(task, log_path)
        for task, chunks in batch.output.items():
            text: list[str] = []
            for chunk in chunks:
                if isinstance(chunk, int):  # lines dropped on the way: the log has them
                    store.feed(task, "".join(text))
                    store.skip(task, chunk)
                    text = []
                else:
                    text.append(chunk)
            store.feed(task, "".join(text))
        if batch.started and not self._has_tasks and self.summary.tasks:
            self._has_tasks = True
            self.panel.set_summary(self.summary)
            self._main.query_one(TaskSidebar).update_title()
        if batch.started:
            self._announced_end = False
        fed = batch.output.keys() | {task for task, _ in batch.attempts}
        context = self._refresh_live(batch.changed, fed)
        if batch.changed:  # a waiting task's header says what it waits on: its deps' states
            moved = batch.changed | self.panel.model.dependents(batch.changed)
            self.outputs.update_headers(moved, self.summary, context)

    def _refresh_live(
        self, changed: Set[str] = frozenset(), fed: Set[str] = frozenset()
    ) -> RowContext:
        """Redraw what moved: `changed` tasks (state, resources), `fed` ones (new output), and
        whatever the clock moves (elapsed times, the header)."""
        now = self.clock()
        context = self.row_context(now)
        self.panel.refresh_rows(context, changed)
        self._main.query_one(TaskSidebar).show_detail(context, changed)
        self._main.query_one(BuildHeader).update_build(self.summary, self.bridge.tally, now)
        self.outputs.refresh_panes(fed)
        return context

    async def on_build_updated(self, message: BuildUpdated) -> None:
        refresh_failures = getattr(self.screen, "refresh_failures", None)
        if refresh_failures is not None:  # the failures view, open: it follows the build
            await refresh_failures(message.batch.changed)
        if not message.batch.finished or self.bridge.running:
            return
        if self.exit_on_finish:
            self.exit()
            return
        if not self._announced_end and not self.bridge.read_only:
            self._announced_end = True
            failed = len(self.summary.failures)
            if failed:
                self.notify(
                    f"{failed} task{'s' if failed > 1 else ''} failed — f: failures, r: re-run",
                    severity="error",
                )

    def row_context(self, now: float | None = None) -> RowContext:
        return RowContext.of_graph(
            self.graph,
            self.summary,
            now=self.clock() if now is None else now,
            running=self.bridge.tally.running,
        )

    # -- output ------------------------------------------------------------------------------

    def on_task_panel_highlighted(self, message: TaskPanel.Highlighted) -> None:
        self._show_row_output(message.row)
        self._main.query_one(TaskSidebar).show_detail(self.row_context())

    def on_task_panel_activated(self, message: TaskPanel.Activated) -> None:
        self._show_row_output(message.row)
        self.output.focus()

    def _show_row_output(self, row: Row | None) -> None:
        if row is not None:
            self.outputs.show_row(row, self.panel, self.summary, self.row_context())

    def action_focus_tasks(self) -> None:
        self.panel.focus()

    def action_pin(self) -> None:
        self.notify(self.outputs.toggle_pin(self.panel.selected_task))

    # -- commands ----------------------------------------------------------------------------

    def _selection(self) -> tuple[list[str], str]:
        """The tasks a command on the selected row applies to, and how to name them."""
        row = self.panel.row
        if row is None:
            return [], ""
        if row.task is None:
            members = self.panel.row_tasks(row)
            return members, f"group {row.group}"
        return [row.task], row.task

    def submit(self, command: Command) -> None:
        self.bridge.submit(command)

    def _read_only(self) -> bool:
        """True (and the user told why) when this is a past run: nothing to cancel or re-run."""
        if not self.bridge.read_only:
            return False
        self.notify(
            "This run is from the history: read-only. "
            "`tuibuild --failed` re-runs the last run's failures.",
            severity="warning",
        )
        return True

    def action_cancel(self) -> None:
        names, label = self._selection()
        if not names or self._read_only() or self.graph is None:
            return
        subtree = {m for n in names for m in self.graph.subtree(n)}
        running = [n for n in subtree if self._state(n) is TaskState.RUNNING]
        unfinished = [n for n in subtree if not self._state(n).finished]
        if not unfinished:
            self.notify(f"Nothing to cancel in {label}: it has finished", severity="warning")
            return

        def go() -> None:
            self.submit(Cancel(tuple(names)))
            self.notify(f"Cancelling {label} ({len(unfinished)} unfinished)")

        if running:
            shown = ", ".join(sorted(running)[:3]) + (" …" if len(running) > 3 else "")
            self._confirm(f"Cancel {label}? {len(running)} running ({shown}) will be killed.", go)
        else:
            go()

    def action_rerun(self, force: bool = False) -> None:
        names, label = self._selection()
        if not names or self._read_only():
            return
        self.submit(Rerun(tuple(names), force=force))
        self.notify(f"{'Force re-running' if force else 'Re-running'} {label}")

    def action_rerun_failed(self) -> None:
        if self._read_only():
            return
        bad = [r for r in self.summary.tasks.values() if r.state.bad]
        if not bad:
            self.notify("Nothing failed, was cancelled or blocked", severity="warning")
            return
        self.submit(RerunFailed())
        self.notify(f"Re-running {len(bad)} failed, cancelled or blocked tasks")

    def action_cancel_all(self) -> None:
        if self._read_only():
            return
        if not self.bridge.running:
            self.notify("Nothing is running", severity="warning")
            return
        self._confirm(
            "Cancel the whole build? Running tasks will be killed.",
            lambda: self.submit(CancelAll()),
        )

    def _state(self, name: str) -> TaskState:
        record = self.summary.tasks.get(name)
        return record.state if record is not None else TaskState.PENDING

    def _confirm(self, question: str, then: Callable[[], None]) -> None:
        from .screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.push_screen(ConfirmScreen(question), answered)

    # -- views -------------------------------------------------------------------------------

    def action_toggle_view(self) -> None:
        self.panel.toggle_view()
        self._main.query_one(TaskSidebar).update_title()

    def action_failures(self) -> None:
        from .screens.failures import FailuresScreen

        self.push_screen(FailuresScreen(self.summary))

    def on_failures_screen_open(self, message: object) -> None:
        task: str = getattr(message, "task")  # noqa: B009 - the screen's message, imported lazily
        self.panel.select_task(task)
        self._show_row_output(self.panel.row)
        if getattr(message, "rerun") and not self._read_only():  # noqa: B009
            self.submit(Rerun((task,)))
            self.notify(f"Re-running {task}")
            self.panel.focus()
        else:
            self.output.focus()

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        self.push_screen(
            HelpScreen(
                [
                    ("Anywhere", self.BINDINGS),
                    ("Task panel", TaskPanel.BINDINGS),
                    ("Output pane", getattr(OutputPane, "BINDINGS", [])),
                ]
            )
        )

    def action_copy_task(self, task: str | None = None) -> None:
        """Copy the task's full output (OSC 52) and say where its log file is."""
        name = task or self.panel.selected_task
        if name is None:
            text = self.output.plain_text()
            self.copy_to_clipboard(text)
            self.notify(f"Copied {text.count(chr(10)) + 1} lines of output")
            return
        record = self.summary.tasks.get(name)
        log_path = record.log_path if record is not None else None
        text = self.outputs.text_of(name, log_path)
        if not text:
            self.notify(f"{name} has no output yet", severity="warning")
            return
        self.copy_to_clipboard(text)
        lines = text.count("\n") + (0 if text.endswith("\n") else 1)
        where = f"\nlog: {log_path}" if log_path else ""
        self.notify(f"Copied {lines} lines of {name} to the clipboard (OSC 52).{where}", timeout=8)

    def action_quit_app(self) -> None:
        if self.bridge.running:
            running = len(self.bridge.tally.running)
            self._confirm(
                f"The build is still running ({running} running). Quit and cancel it?", self.exit
            )
        else:
            self.exit()


def make_app(
    graph: Graph | None,
    bridge_or_engine: EventFeed | Engine,
    *,
    exit_on_finish: bool = False,
    clock: Callable[[], float] = time.time,
    system_stats: bool = True,
    start: bool = True,
) -> TuiBuildApp:
    """Build the dashboard for `graph`. An engine is wrapped in an inline (same-loop) bridge,
    started when the app mounts; a feed (a bridge, a past run) is used as it is (start it
    yourself if threaded). `graph` is None for a past run whose build file does not parse."""
    if isinstance(bridge_or_engine, EventFeed):
        bridge = bridge_or_engine
    else:
        from .bridge import Bridge

        bridge = Bridge(bridge_or_engine, threaded=False)
    return TuiBuildApp(
        graph,
        bridge,
        exit_on_finish=exit_on_finish,
        clock=clock,
        system_stats=system_stats,
        start=start,
    )
