"""A recorded run told again as events (:mod:`tui_build.replay`): what `tuibuild show` folds."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from conftest import run_cli

from tui_build.events import BuildStarted, RunSummary, TaskOutput, TaskState, TaskStateChanged
from tui_build.graph import build_graph
from tui_build.history import load_run
from tui_build.replay import GONE_GROUP, run_events
from tui_build.spec import load_spec

PY = sys.executable

BUILD = f"""
[tasks.gen]
cmd = ["{PY}", "-c", "print('generated'); print('\\\\x1b[31mred\\\\x1b[0m')"]
group = "make"

[tasks.check]
cmd = ["{PY}", "-c", "import sys; print('checking'); sys.exit(3)"]
deps = ["gen"]
group = "test"

[tasks.calc]
call = "helpers:answer"
group = "test"

[tasks.all]
deps = ["check", "calc"]
"""


def test_a_recorded_run_folds_to_what_its_own_frontend_saw(tmp_path: Path) -> None:
    (tmp_path / "build.toml").write_text(textwrap.dedent(BUILD))
    (tmp_path / "helpers.py").write_text("def answer():\n    print('thinking')\n    return 42\n")
    done = run_cli(["--no-tui", "-k", "--events", "events.jsonl"], tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    lived = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    final = {e["task"]: e for e in lived if e["type"] == "TaskStateChanged"}

    graph = build_graph(load_spec(tmp_path / "build.toml"))
    run, results = load_run(tmp_path / "build.toml")
    events = list(run_events(run, results, graph.tasks, "build.toml"))
    summary = RunSummary().apply_all(events)

    assert isinstance(events[0], BuildStarted) and events[0].run_id == run.id
    assert summary.outcome == "failed"
    assert {n: r.state for n, r in summary.tasks.items()} == {
        "gen": TaskState.SUCCEEDED,
        "check": TaskState.FAILED,
        "calc": TaskState.SUCCEEDED,
        "all": TaskState.BLOCKED,
    }
    for name, record in summary.tasks.items():
        assert record.state.value == final[name]["state"]
        if final[name].get("duration") is not None:
            assert abs((record.duration or 0) - final[name]["duration"]) < 0.01
    check = summary.tasks["check"]
    assert check.failure is not None and check.failure.exit_code == 3
    assert "status 3" in check.failure.message
    assert summary.tasks["calc"].result == "42"
    assert summary.tasks["gen"].info.group == "make"
    assert summary.tasks["check"].info.deps == ("gen",)
    # each task's output comes from its log, between its start and its end
    output = {e.task: e.text for e in events if isinstance(e, TaskOutput)}
    assert output["gen"] == "generated\n\x1b[31mred\x1b[0m\n"
    assert output["check"] == "checking\n"
    assert "thinking" in output["calc"]
    for task in ("gen", "check", "calc"):
        kinds = [
            e.state if isinstance(e, TaskStateChanged) else "output"
            for e in events
            if getattr(e, "task", None) == task
        ]
        assert kinds[0] is TaskState.RUNNING and kinds[1] == "output" and kinds[-1].finished


def test_tasks_gone_from_the_build_file_and_logs_gone_from_disk_are_said_so(
    tmp_path: Path,
) -> None:
    (tmp_path / "build.toml").write_text(textwrap.dedent(BUILD))
    (tmp_path / "helpers.py").write_text("def answer():\n    return 1\n")
    assert run_cli(["--no-tui", "-k"], tmp_path).returncode == 1
    run, results = load_run(tmp_path / "build.toml")
    gen_log = Path(next(r.log_path for r in results if r.task == "gen" and r.log_path))
    gen_log.unlink()
    events = list(run_events(run, results, {}, "build.toml"))  # the build file lost every task
    summary = RunSummary().apply_all(events)
    assert {r.info.group for r in summary.tasks.values()} == {GONE_GROUP}
    notes = [e.text for e in events if isinstance(e, TaskOutput) and e.task == "gen"]
    assert len(notes) == 1 and "is gone" in notes[0]
    assert summary.tasks["check"].state is TaskState.FAILED
