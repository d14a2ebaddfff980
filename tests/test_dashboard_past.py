"""`tuibuild show`: a recorded run in the dashboard, read-only, from the store and its logs."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from conftest import run_cli
from test_dashboard import SIZE, row, wait

from tui_build.events import TaskState
from tui_build.graph import build_graph
from tui_build.history import load_run
from tui_build.spec import load_spec
from tui_build.ui.app import make_app
from tui_build.ui.past import PastRun
from tui_build.ui.widgets.failures import FailureCard
from tui_build.ui.widgets.header import BuildHeader

PY = sys.executable

BUILD = f"""
[tasks.gen]
cmd = ["{PY}", "-c", "print('generated the sources')"]
group = "make"

[tasks.check]
cmd = ["{PY}", "-c", "import sys; print('checking'); print('bad thing at line 3'); sys.exit(3)"]
deps = ["gen"]
group = "test"

[tasks.all]
deps = ["check"]
"""


def recorded(tmp_path: Path) -> Path:
    (tmp_path / "build.toml").write_text(textwrap.dedent(BUILD))
    done = run_cli(["--no-tui"], tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    return tmp_path / "build.toml"


async def test_a_past_run_shows_its_tree_states_and_outputs_and_refuses_commands(
    tmp_path: Path,
) -> None:
    build_file = recorded(tmp_path)
    graph = build_graph(load_spec(build_file))
    run, results = load_run(build_file)
    feed = PastRun(run, results, graph.tasks, str(build_file))
    feed.start()
    app = make_app(graph, feed, system_stats=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait(pilot, lambda: app.summary.outcome == "failed")
            await wait(pilot, lambda: "✗" in row(app, "check"))
            assert "✓" in row(app, "gen") and "⊗" in row(app, "all")
            header = app.screen.query_one(BuildHeader)
            status = header.status_line().plain
            assert f"run {run.id}" in status and "read-only" in status
            assert "press r" not in status  # no hint to do what cannot be done here

            app.panel.select_task("check")
            await wait(pilot, lambda: "bad thing at line 3" in app.output.plain_text())
            assert "checking" in app.output.plain_text()

            await pilot.press("r")
            await wait(
                pilot, lambda: any("read-only" in str(n.message) for n in app._notifications)
            )
            await pilot.pause(0.2)
            assert app.summary.tasks["check"].state is TaskState.FAILED

            await pilot.press("f")  # the failures view works on a past run too
            await wait(pilot, lambda: bool(app.screen.query(FailureCard)))
            card = app.screen.query_one(FailureCard)
            assert card.task_name == "check" and card.record.failure is not None
            assert card.record.failure.exit_code == 3
    finally:
        feed.stop()
    assert feed.error is None


def test_show_without_a_terminal_prints_the_run(tmp_path: Path) -> None:
    recorded(tmp_path)
    shown = run_cli(["show"], tmp_path)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "check" in shown.stdout and "failed" in shown.stdout and "exit 3" in shown.stdout
    missing = run_cli(["show", "nosuchrun"], tmp_path)
    assert missing.returncode == 2 and "nosuchrun" in missing.stderr
