"""The dashboard redraws only what changed; what is on screen must still be what is true.

Each tick repaints only the task-panel lines on screen whose text changed, draws other lines
afresh when they scroll into view, updates only the output headers that moved, and answers
"how many in each state" from a tally kept event by event. These tests read the lines as drawn
(Textual's line cache included), not the rows' model, so a line left stale fails them.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

from conftest import FakeRunner, make_graph
from test_dashboard import SIZE, build, settled, ui_state, wait
from textual.geometry import Region
from textual.widget import Widget

from tui_build.engine import Engine
from tui_build.events import (
    BuildStarted,
    Stream,
    TaskInfo,
    TaskOutput,
    TaskState,
    TaskStateChanged,
)
from tui_build.ui.app import TuiBuildApp
from tui_build.ui.bridge import Bridge

MANY = "".join(f'[tasks.t{i:02}]\ncmd = ["fake"]\n' for i in range(60))

WAITS = """
[tasks.a1]
cmd = ["fake"]
[tasks.a2]
cmd = ["fake"]
[tasks.b]
cmd = ["fake"]
deps = ["a1", "a2"]
[tasks.all]
deps = ["b"]
"""


def drawn(widget: Widget) -> list[str]:
    """The widget's lines as they are drawn now (what the next frame will show)."""
    return [s.text.rstrip() for s in widget.render_lines(Region(0, 0, *widget.size))]


def drawn_row(app: TuiBuildApp, task: str) -> str | None:
    """The drawn task-panel line of `task` (or of a group), or None when it is not on screen."""
    pattern = re.compile(rf"^[\s▾▸]*(\S )?{re.escape(task)}(\s|$)")  # arrow, symbol, name
    return next((line for line in drawn(app.panel) if pattern.search(line)), None)


async def test_a_row_that_changed_off_screen_is_right_when_scrolled_into_view(
    tmp_path: Path,
) -> None:
    runner = FakeRunner(fail_once={"t55"})
    runner.gate(*(f"t{i:02}" for i in range(60)))
    app, engine = build(tmp_path, runner, MANY, jobs=60)
    async with app.run_test(size=SIZE) as pilot:
        await wait(
            pilot,
            lambda: (
                len(app.summary.tasks) == 60
                and all(r.state is TaskState.RUNNING for r in app.summary.tasks.values())
            ),
        )
        app.panel.focus()
        await pilot.press("end")  # draw t55 while it runs...
        await wait(pilot, lambda: "▶ t55" in (drawn_row(app, "t55") or ""))
        await pilot.press("home")  # ...then scroll it away
        await wait(pilot, lambda: drawn_row(app, "t55") is None)
        runner.release("t55")
        await wait(pilot, lambda: ui_state(app, "t55") is TaskState.FAILED)
        await pilot.pause(0.2)  # a few ticks while it is off screen
        await pilot.press("end")
        await wait(pilot, lambda: drawn_row(app, "t55") is not None)
        line = drawn_row(app, "t55") or ""
        assert "✗ t55" in line and "exited with status 1" in line
        assert "▶ t54" in (drawn_row(app, "t54") or "")
        runner.release(*(f"t{i:02}" for i in range(60) if i != 55))
        await settled(pilot, app, engine)


async def test_a_visible_row_follows_its_state_and_its_dependencies(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.gate("a1", "a2")
    app, engine = build(tmp_path, runner, WAITS)
    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: "waits on a1, a2" in (drawn_row(app, "b") or ""))
        runner.release("a1")
        # b itself does not change: only what it waits on does.
        await wait(pilot, lambda: "✓ a1" in (drawn_row(app, "a1") or ""))
        await wait(pilot, lambda: "waits on a2" in (drawn_row(app, "b") or ""))
        assert "a1" not in (drawn_row(app, "b") or "").split("waits on")[1]
        runner.release("a2")
        await settled(pilot, app, engine)
        await wait(pilot, lambda: "✓ b" in (drawn_row(app, "b") or ""))


async def test_the_elapsed_time_of_a_running_row_moves_on_screen(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.gate("a1")
    offset = [0.0]
    app, engine = build(tmp_path, runner, WAITS, clock=lambda: time.time() + offset[0])
    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: "▶ a1" in (drawn_row(app, "a1") or ""))
        offset[0] = 125.0  # no event arrives: only the clock moves
        await wait(pilot, lambda: "2m0" in (drawn_row(app, "a1") or ""))
        runner.release("a1")
        await settled(pilot, app, engine)


async def test_a_view_filtered_by_state_takes_and_drops_tasks_as_they_change(
    tmp_path: Path,
) -> None:
    runner = FakeRunner()
    runner.gate("a1", "a2", "b")
    app, engine = build(tmp_path, runner, WAITS)
    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: "b" in app.summary.tasks)
        await pilot.press("t", "slash", *"state:running", "enter")

        def shown() -> str:
            return "\n".join(drawn(app.panel))

        await wait(pilot, lambda: "▶ a1" in shown() and "▶ a2" in shown())
        assert " b" not in shown()
        runner.release("a1", "a2")
        await wait(pilot, lambda: "▶ b" in shown())
        assert "a1" not in shown() and "a2" not in shown()
        runner.release("b")
        await settled(pilot, app, engine)
        await wait(pilot, lambda: " b" not in shown())


async def test_a_group_row_recounts_when_a_member_finishes(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.gate("a1", "a2")
    toml = WAITS.replace('cmd = ["fake"]\n', 'cmd = ["fake"]\ngroup = "inputs"\n', 2)
    app, engine = build(tmp_path, runner, toml)
    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: "a2" in app.summary.tasks)
        await pilot.press("t")
        await wait(pilot, lambda: "inputs  0/2" in (drawn_row(app, "inputs") or ""))
        runner.release("a1")
        await wait(pilot, lambda: "inputs  1/2" in (drawn_row(app, "inputs") or ""))
        runner.release("a2")
        await settled(pilot, app, engine)
        await wait(pilot, lambda: "inputs  2/2" in (drawn_row(app, "inputs") or ""))


async def test_group_output_headers_follow_what_a_task_waits_on(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.gate("a1", "a2")
    app, engine = build(tmp_path, runner, WAITS)
    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: "b" in app.summary.tasks)
        await pilot.press("home")  # the target: its whole subtree, one header per task

        def header(task: str) -> str:
            return next((s for s in drawn(app.output) if f" {task}  " in s), "")

        await wait(pilot, lambda: "waits on a1, a2" in header("b"))
        runner.release("a1")
        await wait(pilot, lambda: "✓ a1" in header("a1"))
        await wait(pilot, lambda: "waits on a2" in header("b") and "a1" not in header("b"))
        runner.release("a2")
        await settled(pilot, app, engine)
        await wait(pilot, lambda: "✓ b  succeeded" in header("b"))


def test_the_tally_agrees_with_the_summary_through_any_transitions(tmp_path: Path) -> None:
    names = [f"t{i}" for i in range(30)]
    toml = "".join(f'[tasks.{n}]\ncmd = ["fake"]\n' for n in names)
    graph = make_graph(tmp_path, toml)
    engine = Engine(graph, FakeRunner(), jobs=4, log_root=tmp_path / "logs")  # type: ignore[arg-type]
    bridge = Bridge(engine, threaded=False)
    infos = tuple(TaskInfo(n, n, "all", ()) for n in names)
    bridge.inject(BuildStarted("r", "build.toml", (), infos, 4, "logs", time=0.0))
    bridge.drain()
    pick = random.Random(7)
    states = list(TaskState)
    for step in range(2000):
        name = pick.choice(names)
        old = bridge.summary.tasks[name].state
        bridge.inject(TaskStateChanged(name, pick.choice(states), old, time=float(step)))
        if step % 7 == 0:
            bridge.drain()
            summary, tally = bridge.summary, bridge.tally
            assert {s: n for s, n in tally.counts.items() if n} == {
                s: n for s, n in summary.counts().items() if n
            }
            running = [r.info.name for r in summary.tasks.values() if r.state is TaskState.RUNNING]
            assert tally.running == running
            assert bridge.running == any(not r.state.finished for r in summary.tasks.values())


async def test_a_growing_open_line_is_redrawn_in_place(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.gate("a1", "a2")
    app, engine = build(tmp_path, runner, WAITS)
    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: "▶ a1" in (drawn_row(app, "a1") or ""))
        app.panel.select_task("a1")

        def shown() -> str:
            return "\n".join(drawn(app.output))

        # A progress line without its newline yet: it grows, the pane's row count does not.
        app.bridge.inject(TaskOutput("a1", Stream.STDOUT, "progress 10%", time.time()))
        await wait(pilot, lambda: "progress 10%" in shown())
        app.bridge.inject(TaskOutput("a1", Stream.STDOUT, " 50%", time.time()))
        await wait(pilot, lambda: "progress 10% 50%" in shown())
        runner.release("a1", "a2")
        await settled(pilot, app, engine)
