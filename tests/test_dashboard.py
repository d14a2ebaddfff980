"""Pilot tests of the dashboard: every key, every state a row can show, cancel and re-run.

The engine runs on the app's own loop (an inline bridge) with the scriptable FakeRunner, so a
test decides exactly when each task finishes; one test runs real commands on the threaded
bridge, as `tuibuild` does.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FakeRunner, make_graph
from textual.pilot import Pilot

from tui_build.engine import Engine
from tui_build.events import (
    Failure,
    FailureKind,
    Frame,
    ResourceSample,
    TaskState,
    TaskStateChanged,
)
from tui_build.ui.app import TuiBuildApp, make_app
from tui_build.ui.bridge import Bridge
from tui_build.ui.screens.confirm import ConfirmScreen
from tui_build.ui.screens.failures import FailuresScreen
from tui_build.ui.screens.help import HelpScreen
from tui_build.ui.widgets.failures import FailureCard
from tui_build.ui.widgets.output_pane import OutputPane

SIZE = (120, 40)

CHAIN = """
[tasks.prepare]
cmd = ["fake", "out=preparing"]
group = "setup"

[tasks.compile]
cmd = ["fake", "out=src/a.c:3:5: error: expected ';'"]
deps = ["prepare"]
group = "build"

[tasks.docs]
cmd = ["fake", "out=docs done"]
deps = ["prepare"]
group = "docs"

[tasks.link]
cmd = ["fake", "out=linked"]
deps = ["compile"]
group = "build"

[tasks.all]
deps = ["link", "docs"]
group = "release"
"""


def build(
    tmp_path: Path, runner: FakeRunner, toml: str = CHAIN, *, jobs: int = 4, **kwargs: object
) -> tuple[TuiBuildApp, Engine]:
    graph = make_graph(tmp_path, toml)
    engine = Engine(graph, runner, jobs=jobs, log_root=tmp_path / "logs")  # type: ignore[arg-type]
    app = make_app(graph, engine, system_stats=False, **kwargs)  # type: ignore[arg-type]
    return app, engine


async def wait(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until `predicate()` holds (a deadline, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)


def row(app: TuiBuildApp, task: str) -> str:
    """The rendered text of the first row showing `task`."""
    for text, r in zip(app.panel.visible_text(), app.panel.rows, strict=True):
        if r.task == task:
            return text
    raise AssertionError(f"no row for {task}: {app.panel.visible_text()}")


def ui_state(app: TuiBuildApp, task: str) -> TaskState:
    return app.summary.tasks[task].state


async def settled(pilot: Pilot[None], app: TuiBuildApp, engine: Engine) -> None:
    """Wait until the UI has drained every event of an idle engine."""
    await wait(pilot, lambda: engine.finished and app.summary.outcome is not None)
    await wait(pilot, lambda: all(app.summary.tasks[n].state is s for n, s in engine.state.items()))
    await pilot.pause(0.1)


# -- rows: every state ---------------------------------------------------------------------


async def test_rows_show_waiting_running_and_resources(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.gate("prepare")
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await wait(
            pilot,
            lambda: (
                app.summary.tasks.get("prepare") is not None
                and ui_state(app, "prepare") is TaskState.RUNNING
            ),
        )
        app.bridge.inject(ResourceSample("prepare", 42.0, 50 * 1024 * 1024, 2, time.time()))
        await pilot.pause(0.2)
        line = row(app, "prepare")
        assert line.startswith(("▶", "  ")) or "▶ prepare" in line
        assert "▶ prepare" in line and "42%" in line and "50.0M" in line
        assert "· compile" in row(app, "compile") and "waits on prepare" in row(app, "compile")
        assert "waits on link, docs" in row(app, "all")
        runner.release("prepare")
        await settled(pilot, app, engine)
        assert "✓ prepare" in row(app, "prepare")
        assert "✓ all" in row(app, "all")
        assert "succeeded in" in app.query_one("#header").status_line().plain


async def test_ready_row_says_it_waits_for_a_job_slot(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.gate("compile", "docs")
    app, engine = build(tmp_path, runner, jobs=1)
    async with app.run_test(size=SIZE) as pilot:
        await wait(
            pilot,
            lambda: (
                "docs" in app.summary.tasks
                and {ui_state(app, "compile"), ui_state(app, "docs")}
                == {TaskState.RUNNING, TaskState.READY}
            ),
        )
        waiting = "docs" if ui_state(app, "docs") is TaskState.READY else "compile"
        assert f"○ {waiting}" in row(app, waiting)
        assert "waits for a free job slot" in row(app, waiting)
        runner.release("compile", "docs")
        await settled(pilot, app, engine)


async def test_ready_row_names_its_full_pool(tmp_path: Path) -> None:
    toml = """
    [pools]
    link = 1
    [tasks.a]
    cmd = ["fake"]
    pool = "link"
    [tasks.b]
    cmd = ["fake"]
    pool = "link"
    """
    runner = FakeRunner()
    runner.gate("a", "b")
    app, engine = build(tmp_path, runner, toml)
    async with app.run_test(size=SIZE) as pilot:
        await wait(
            pilot,
            lambda: (
                len(app.summary.in_state(TaskState.READY)) == 1
                and len(app.summary.in_state(TaskState.RUNNING)) == 1
            ),
        )
        ready = app.summary.in_state(TaskState.READY)[0].info.name
        assert "waits for pool link (1 at a time)" in row(app, ready)
        runner.release("a", "b")
        await settled(pilot, app, engine)


async def test_failed_blocked_and_up_to_date_rows(tmp_path: Path) -> None:
    runner = FakeRunner(fail_once={"compile"})
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app, engine)
        assert "✗ compile" in row(app, "compile") and "exited with status 1" in row(app, "compile")
        assert "⊗ link" in row(app, "link") and "dependency failed: compile" in row(app, "link")
        assert "⊗ all" in row(app, "all") and "dependency blocked: link" in row(app, "all")
        header = app.query_one("#header").status_line().plain
        assert "✗ failed: 1 failed, 2 blocked" in header and "press r" in header
        # No store decides "up to date" yet: synthesize the event through the bridge.
        app.bridge.inject(
            TaskStateChanged(
                "docs",
                TaskState.UP_TO_DATE,
                TaskState.SUCCEEDED,
                time.time(),
                reason="up to date: nothing changed",
            )
        )
        await pilot.pause(0.2)
        assert "≡ docs" in row(app, "docs") and "up to date: nothing changed" in row(app, "docs")


async def test_stalled_running_task_is_flagged(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.gate("prepare")
    offset = [0.0]
    app, engine = build(tmp_path, runner, clock=lambda: time.time() + offset[0])
    async with app.run_test(size=SIZE) as pilot:
        await wait(
            pilot,
            lambda: (
                "prepare" in app.summary.tasks and ui_state(app, "prepare") is TaskState.RUNNING
            ),
        )
        await pilot.pause(0.1)
        assert "stalled" not in row(app, "prepare")
        offset[0] = 61.0  # spec.stall_after defaults to 60 s
        await wait(pilot, lambda: "possibly stalled" in row(app, "prepare"))
        assert "quiet 1m01s" in row(app, "prepare")
        runner.release("prepare")
        await settled(pilot, app, engine)


# -- cancel and re-run ---------------------------------------------------------------------


async def test_cancel_running_subtree_asks_then_blocks_downstream(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.gate("compile")
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await wait(
            pilot,
            lambda: (
                "compile" in app.summary.tasks and ui_state(app, "compile") is TaskState.RUNNING
            ),
        )
        assert app.panel.select_task("compile")
        await pilot.press("c")
        await wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # no: nothing happens
        await pilot.pause(0.1)
        assert engine.state["compile"] is TaskState.RUNNING
        await pilot.press("c")
        await wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await settled(pilot, app, engine)
        assert engine.state["compile"] is TaskState.CANCELLED
        assert "compile" in runner.cancelled
        assert engine.state["link"] is TaskState.BLOCKED
        assert "⊘ compile" in row(app, "compile") and "cancelled by user" in row(app, "compile")
        assert "dependency cancelled: compile" in row(app, "link")
        assert engine.state["docs"] is TaskState.SUCCEEDED


async def test_rerun_failed_subtree_continues_downstream(tmp_path: Path) -> None:
    runner = FakeRunner(fail_once={"compile"})
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app, engine)
        assert engine.state["link"] is TaskState.BLOCKED
        app.panel.select_task("compile")
        await pilot.press("r")
        await wait(pilot, lambda: engine.state["all"] is TaskState.SUCCEEDED)
        await settled(pilot, app, engine)
        assert runner.started.count("compile") == 2
        assert runner.started.count("prepare") == 1  # its succeeded dependency is kept
        assert "✓ compile" in row(app, "compile") and "✓ link" in row(app, "link")
        assert "✓ all" in row(app, "all")
        assert "✓ succeeded" in app.query_one("#header").status_line().plain


async def test_rerun_while_the_build_is_still_running(tmp_path: Path) -> None:
    runner = FakeRunner(fail_once={"compile"})
    runner.gate("docs")
    app, engine = build(tmp_path, runner)
    engine.keep_going = True
    async with app.run_test(size=SIZE) as pilot:
        await wait(
            pilot,
            lambda: "compile" in app.summary.tasks and ui_state(app, "compile") is TaskState.FAILED,
        )
        assert ui_state(app, "docs") is TaskState.RUNNING
        app.panel.select_task("compile")
        await pilot.press("r")
        await wait(pilot, lambda: engine.state["link"] is TaskState.SUCCEEDED)
        runner.release("docs")
        await settled(pilot, app, engine)
        assert engine.state["all"] is TaskState.SUCCEEDED


async def test_force_rerun_runs_the_whole_subtree_again(tmp_path: Path) -> None:
    runner = FakeRunner()
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app, engine)
        app.panel.select_task("link")
        await pilot.press("R")
        await wait(pilot, lambda: runner.started.count("link") == 2)
        await settled(pilot, app, engine)
        assert runner.started.count("prepare") == 2 and runner.started.count("compile") == 2
        assert runner.started.count("docs") == 1  # not in link's subtree


async def test_rerun_all_failures(tmp_path: Path) -> None:
    toml = """
    [tasks.a]
    cmd = ["fake"]
    [tasks.b]
    cmd = ["fake"]
    [tasks.c]
    cmd = ["fake"]
    deps = ["a", "b"]
    """
    runner = FakeRunner(fail_once={"a", "b"})
    app, engine = build(tmp_path, runner, toml)
    engine.keep_going = True
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app, engine)
        assert len(app.summary.failures) == 2
        await pilot.press("F")
        await wait(pilot, lambda: engine.state["c"] is TaskState.SUCCEEDED)
        await settled(pilot, app, engine)
        assert runner.started.count("a") == 2 and runner.started.count("b") == 2


async def test_cancel_everything_asks_first(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.gate("compile", "docs")
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await wait(
            pilot,
            lambda: "docs" in app.summary.tasks and ui_state(app, "docs") is TaskState.RUNNING,
        )
        await pilot.press("x")
        await wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await settled(pilot, app, engine)
        assert engine.state["compile"] is TaskState.CANCELLED
        assert engine.state["docs"] is TaskState.CANCELLED
        assert app.summary.outcome in ("cancelled", "failed")


# -- views, filter, output -----------------------------------------------------------------


async def test_tree_marks_shared_tasks_and_list_groups_with_counts(tmp_path: Path) -> None:
    runner = FakeRunner()
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app, engine)
        tree = app.panel.visible_text()
        assert tree[0].startswith("▾ ✓ all")
        # prepare is needed by compile and docs: it appears under both, marked shared.
        prepares = [t for t in tree if "prepare" in t]
        assert len(prepares) == 2 and all("↺" in t for t in prepares)
        assert any(t.startswith("    ▾ ✓ compile") for t in tree)  # indented under link
        await pilot.press("t")
        listed = app.panel.visible_text()
        assert app.panel.view == "list"
        assert any(t.startswith("▾ build  2/2  ✓2") for t in listed)
        assert any(t.startswith("▾ setup  1/1") for t in listed)
        # collapse a group with space, expand it with right
        app.panel.cursor = next(
            i for i, r in enumerate(app.panel.rows) if r.group == "build" and r.task is None
        )
        await pilot.press("space")
        assert not any("compile" in t for t in app.panel.visible_text())
        assert "▸ build" in app.panel.visible_text()[app.panel.cursor]
        await pilot.press("right")
        assert any("compile" in t for t in app.panel.visible_text())
        await pilot.press("t")
        assert app.panel.view == "tree"


async def test_arrows_and_vim_keys_move_and_left_collapses(tmp_path: Path) -> None:
    runner = FakeRunner()
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app, engine)
        assert app.panel.cursor == 0
        await pilot.press("down", "j")
        assert app.panel.cursor == 2
        await pilot.press("k")
        assert app.panel.cursor == 1 and app.panel.selected_task == "link"
        await pilot.press("left")  # collapse link
        assert "▸ ✓ link" in app.panel.visible_text()[1]
        await pilot.press("left")  # on a closed node: go to its parent
        assert app.panel.cursor == 0
        before = len(app.panel.rows)
        await pilot.press("space")
        assert len(app.panel.rows) == 1 < before


async def test_click_selects_a_row(tmp_path: Path) -> None:
    runner = FakeRunner()
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app, engine)
        index = next(i for i, r in enumerate(app.panel.rows) if r.task == "docs")
        await pilot.click("#task-panel", offset=(12, index))
        assert app.panel.selected_task == "docs"
        await wait(
            pilot,
            lambda: app.output.border_title is not None and "docs" in str(app.output.border_title),
        )


async def test_filter_by_state_and_by_name(tmp_path: Path) -> None:
    runner = FakeRunner(fail_once={"compile"})
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app, engine)
        await pilot.press("t")  # the list view: flat and easy to assert on
        await pilot.press("slash", *"state:failed")
        tasks = [r.task for r in app.panel.rows if r.task]
        assert tasks == ["compile"]
        await pilot.press("escape")
        assert len([r for r in app.panel.rows if r.task]) == 5
        await pilot.press("slash", *"doc", "enter")
        assert [r.task for r in app.panel.rows if r.task] == ["docs"]
        assert app.focused is app.panel
        await pilot.press("t")  # the tree keeps the paths to matches
        assert [r.task for r in app.panel.rows] == ["all", "docs"]


async def test_selecting_a_task_shows_its_output_and_enter_focuses_it(tmp_path: Path) -> None:
    runner = FakeRunner()
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app, engine)
        app.panel.select_task("docs")
        await pilot.pause(0.1)
        assert "docs done" in app.output.plain_text()
        await pilot.press("enter")
        assert app.focused is app.output
        await pilot.press("escape")
        assert app.focused is app.panel


async def test_search_in_the_output_pane_reports_matches(tmp_path: Path) -> None:
    runner = FakeRunner()
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app, engine)
        app.panel.select_task("docs")
        await pilot.press("enter")  # to the output pane, where / searches
        await pilot.press("slash", *"done", "enter")
        await wait(pilot, lambda: "1 of 1" in str(app.output.border_subtitle))
        assert "/done" in str(app.output.border_subtitle)
        await pilot.press("escape")  # the first escape ends the search, the pane keeps focus
        assert app.output.search_query == "" and not str(app.output.border_subtitle)
        assert app.focused is app.output
        await pilot.press("escape")  # the second goes back to the tasks
        assert app.focused is not app.output


async def test_group_rows_show_grouped_output(tmp_path: Path) -> None:
    runner = FakeRunner()
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app, engine)
        await pilot.press("home")  # the target "all" in the tree: its whole subtree
        await pilot.pause(0.1)
        assert "all and its dependencies" in str(app.output.border_title)
        text = app.output.plain_text()
        assert text.index("✓ prepare") < text.index("✓ compile") < text.index("✓ link")
        assert "preparing" in text and "linked" in text
        await pilot.press("t")
        app.panel.cursor = next(i for i, r in enumerate(app.panel.rows) if r.group == "build")
        app.panel._announce()
        await pilot.pause(0.1)
        assert "group build" in str(app.output.border_title)
        grouped = app.output.plain_text()
        assert "✓ compile  succeeded" in grouped and "docs" not in grouped


async def test_pin_shows_a_second_pane_and_unpins(tmp_path: Path) -> None:
    runner = FakeRunner()
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app, engine)
        pinned = app.query_one("#pinned", OutputPane)
        app.panel.select_task("docs")
        await pilot.press("p")
        assert pinned.display and app.outputs.pinned == "docs"
        app.panel.select_task("link")
        await pilot.pause(0.1)
        assert "docs done" in pinned.plain_text() and "linked" in app.output.plain_text()
        await pilot.press("p")  # another task selected: pin that one instead
        assert app.outputs.pinned == "link"
        await pilot.press("p")
        assert not pinned.display and app.outputs.pinned is None


async def test_copy_puts_output_on_clipboard_and_names_the_log(tmp_path: Path) -> None:
    runner = FakeRunner()
    app, engine = build(tmp_path, runner)
    copied: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
        await settled(pilot, app, engine)
        app.panel.select_task("docs")
        await pilot.press("y")
        assert copied == ["docs done\n"]
        log_path = app.summary.tasks["docs"].log_path
        assert log_path and Path(log_path).exists()
        assert any(log_path in str(n.message) for n in app._notifications)


# -- failures view -------------------------------------------------------------------------


async def test_failures_view_explains_and_jumps_and_reruns(tmp_path: Path) -> None:
    runner = FakeRunner(fail_once={"compile"})
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app, engine)
        await pilot.press("f")
        await wait(pilot, lambda: isinstance(app.screen, FailuresScreen))
        cards = list(app.screen.query(FailureCard))
        assert [c.task_name for c in cards] == ["compile"]
        rendered = cards[0].render()
        text = app.console.export_text() if False else _plain(app, cards[0])
        assert "[exit status] exited with status 1" in text
        assert "src/a.c:3:5: error: expected ';'" in text
        assert rendered is not None
        await pilot.press("enter")
        await wait(pilot, lambda: not isinstance(app.screen, FailuresScreen))
        assert app.panel.selected_task == "compile" and app.focused is app.output
        await pilot.press("f")
        await wait(pilot, lambda: isinstance(app.screen, FailuresScreen))
        await pilot.press("r")
        await wait(pilot, lambda: engine.state["all"] is TaskState.SUCCEEDED)
        assert runner.started.count("compile") == 2


async def test_failures_view_while_other_tasks_still_run(tmp_path: Path) -> None:
    runner = FakeRunner(fail_once={"compile"})
    runner.gate("docs")
    app, engine = build(tmp_path, runner)
    engine.keep_going = True
    async with app.run_test(size=SIZE) as pilot:
        await wait(
            pilot,
            lambda: "compile" in app.summary.tasks and ui_state(app, "compile") is TaskState.FAILED,
        )
        await pilot.press("f")
        await wait(pilot, lambda: isinstance(app.screen, FailuresScreen))
        runner.release("docs")  # the dashboard keeps folding events under the failures view
        await wait(pilot, lambda: ui_state(app, "docs") is TaskState.SUCCEEDED)
        await pilot.press("c")  # dashboard keys do nothing here
        assert isinstance(app.screen, FailuresScreen) and app.is_running
        await pilot.press("escape")
        assert "✓ docs" in row(app, "docs")


def _plain(app: TuiBuildApp, card: FailureCard) -> str:
    from rich.console import Console

    console = Console(width=110, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(FailureCard.build(card.record, 100))
    return console.export_text()


async def test_failures_view_renders_a_python_traceback(tmp_path: Path) -> None:
    source = tmp_path / "checks.py"
    source.write_text("def run():\n    value = 1\n    assert value == 2, 'value is wrong'\n")
    runner = FakeRunner()
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app, engine)
        failure = Failure(
            FailureKind.EXCEPTION,
            "AssertionError: value is wrong",
            traceback="Traceback (most recent call last):\n  ...\nAssertionError: value is wrong\n",
            frames=(Frame(str(source), 3, "run", "assert value == 2, 'value is wrong'"),),
            exception_type="AssertionError",
        )
        app.bridge.inject(
            TaskStateChanged(
                "docs",
                TaskState.FAILED,
                TaskState.SUCCEEDED,
                time.time(),
                failure=failure,
                reason=failure.message,
            )
        )
        await wait(pilot, lambda: ui_state(app, "docs") is TaskState.FAILED)
        await pilot.press("f")
        await wait(pilot, lambda: isinstance(app.screen, FailuresScreen))
        card = app.screen.query_one(FailureCard)
        text = _plain(app, card)
        assert "[Python exception]" in text
        assert "checks.py:3 in run" in text
        assert "value = 1" in text  # context read from the file
        assert "AssertionError: value is wrong" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, FailuresScreen)


# -- help, quit, finish --------------------------------------------------------------------


async def test_help_lists_every_binding(tmp_path: Path) -> None:
    runner = FakeRunner()
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app, engine)
        await pilot.press("question_mark")
        await wait(pilot, lambda: isinstance(app.screen, HelpScreen))
        from tui_build.ui.screens.help import help_table

        assert isinstance(app.screen, HelpScreen)
        text = _render_text(help_table(app.screen.sections))
        for description in (
            "Cancel",
            "Re-run",
            "Force re-run",
            "Re-run failed",
            "Cancel all",
            "Tree/list",
            "Failures",
            "Pin",
            "Copy",
            "Quit",
            "Filter",
            "Search",
            "Next match",
        ):
            assert description in text, description
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


def _render_text(renderable: object) -> str:
    from rich.console import Console

    console = Console(width=120, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


async def test_quit_asks_while_tasks_run_and_cancels_them(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.gate("compile")
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await wait(
            pilot,
            lambda: (
                "compile" in app.summary.tasks and ui_state(app, "compile") is TaskState.RUNNING
            ),
        )
        await pilot.press("q")
        await wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await pilot.pause(0.05)
        assert app.is_running and engine.state["compile"] is TaskState.RUNNING
        await pilot.press("ctrl+c")  # the same question
        await wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait(pilot, lambda: not app.is_running)
    assert engine.state["compile"] is TaskState.CANCELLED  # shut down on unmount
    assert "compile" in runner.cancelled
    assert engine.summary.outcome in ("cancelled", "failed")


async def test_quit_without_asking_once_finished(tmp_path: Path) -> None:
    runner = FakeRunner()
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app, engine)
        await pilot.press("q")
        await wait(pilot, lambda: not app.is_running)
    assert engine.summary.outcome == "succeeded"


async def test_stays_open_after_the_build_unless_exit_on_finish(tmp_path: Path) -> None:
    runner = FakeRunner()
    app, engine = build(tmp_path, runner, exit_on_finish=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: not app.is_running)
    assert engine.summary.outcome == "succeeded"


async def test_threaded_bridge_runs_real_commands(tmp_path: Path) -> None:
    """As `tuibuild` runs it: the engine in its own thread, real processes, live output."""
    toml = f"""
    [tasks.hello]
    cmd = ["{sys.executable}", "-c", "print('hello from a child')"]
    [tasks.fails]
    cmd = ["{sys.executable}", "-c", "import sys; print('src/x.c:1:2: error: nope'); sys.exit(3)"]
    deps = ["hello"]
    """
    from tui_build.runners import LocalRunner

    graph = make_graph(tmp_path, toml)
    engine = Engine(graph, LocalRunner(2), jobs=2, log_root=tmp_path / "logs")
    bridge = Bridge(engine, threaded=True)
    bridge.start()
    app = make_app(graph, bridge, system_stats=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait(pilot, lambda: app.summary.outcome == "failed", timeout=30)
            await pilot.pause(0.1)
            assert "exited with status 3" in row(app, "fails")
            app.panel.select_task("hello")
            await wait(pilot, lambda: "hello from a child" in app.output.plain_text())
    finally:
        await asyncio.get_running_loop().run_in_executor(None, bridge.stop)
    assert engine.state["fails"] is TaskState.FAILED


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_layout_fits_small_and_large_terminals(tmp_path: Path, size: tuple[int, int]) -> None:
    runner = FakeRunner()
    app, engine = build(tmp_path, runner)
    async with app.run_test(size=size) as pilot:
        await settled(pilot, app, engine)
        panel = app.panel
        assert panel.size.height >= 10 and panel.size.width >= 28
        assert app.output.size.width >= 30
        assert "✓ succeeded" in app.query_one("#header").status_line().plain
