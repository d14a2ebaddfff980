"""Snapshot tests of the dashboard (pytest-textual-snapshot): what a user sees, frozen.

The build is synthetic: events are injected through the bridge with fixed timestamps and the
app's clock is frozen, so durations, elapsed times and the stall detection never move. System
CPU and memory sampling is off. Update with `pytest --snapshot-update` after a deliberate change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeRunner, make_graph
from textual.pilot import Pilot

from tui_build.engine import Engine
from tui_build.events import (
    BuildStarted,
    Failure,
    FailureKind,
    Frame,
    ResourceSample,
    Stream,
    TaskInfo,
    TaskOutput,
    TaskState,
    TaskStateChanged,
)
from tui_build.ui.app import TuiBuildApp, make_app

T0 = 1_700_000_000.0
NOW = T0 + 100.0

BUILD = """
[pools]
link = 1

[tasks.prepare]
cmd = ["fake"]
group = "setup"

[tasks.version]
cmd = ["fake"]
deps = ["prepare"]
group = "setup"

[tasks.cc_lexer]
cmd = ["fake"]
deps = ["version"]
group = "compile"

[tasks.cc_parser]
cmd = ["fake"]
deps = ["version"]
group = "compile"

[tasks.cc_runtime]
cmd = ["fake"]
deps = ["version"]
group = "compile"

[tasks.link]
cmd = ["fake"]
deps = ["cc_lexer", "cc_parser"]
pool = "link"
group = "compile"

[tasks.test]
cmd = ["fake"]
deps = ["cc_runtime"]
group = "checks"

[tasks.checks]
cmd = ["fake"]
deps = ["prepare"]
group = "checks"

[tasks.docs_en]
cmd = ["fake"]
deps = ["prepare"]
group = "docs"

[tasks.docs_fr]
cmd = ["fake"]
deps = ["prepare"]
group = "docs"

[tasks.all]
deps = ["link", "test", "checks", "docs_en", "docs_fr"]
group = "release"
"""

CHECKS_PY = """\
def check_checksum(data):
    expected = len(data)
    assert expected == 4, f"checksum mismatch: expected 4 sections, found {expected}"


def run_checks():
    check_checksum([1, 2, 3])
"""


def _change(
    task: str, state: TaskState, previous: TaskState, at: float, **kw: Any
) -> TaskStateChanged:
    return TaskStateChanged(task, state, previous, T0 + at, **kw)


def frozen_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TuiBuildApp:
    monkeypatch.chdir(tmp_path)
    graph = make_graph(tmp_path, BUILD, ["all"])
    engine = Engine(graph, FakeRunner(), jobs=2, log_root=tmp_path / "logs")  # type: ignore[arg-type]
    app = make_app(graph, engine, clock=lambda: NOW, system_stats=False, start=False)
    (tmp_path / "checks.py").write_text(CHECKS_PY)
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    runtime_log = "logs/cc_runtime.log"
    runtime_out = (
        "cc -O2 -c src/runtime.c -o build/runtime.o\n"
        "src/runtime.c:7:9: warning: unused variable 'scratch' [-Wunused-variable]\n"
        "src/runtime.c:12:3: error: expected ';' before '}' token\n"
        "1 error generated.\n"
    )
    (tmp_path / runtime_log).write_text(runtime_out)
    lexer_out = "".join(f"  optimising lexer.c: pass {i}\n" for i in range(1, 9))
    tasks = tuple(
        TaskInfo(
            n, t.base, t.group, tuple(t.deps), t.description, t.kind, t.command_text(), n == "all"
        )
        for n, t in graph.tasks.items()
    )
    ordered = tuple(sorted(tasks, key=lambda i: engine._index[i.name]))
    P, RD, RU = TaskState.PENDING, TaskState.READY, TaskState.RUNNING
    events = [
        BuildStarted("run-1", "build.toml", ("all",), ordered, 2, "logs", T0),
        _change("prepare", RD, P, 0.0),
        _change("prepare", RU, RD, 0.0, log_path="logs/prepare.log"),
        _change("prepare", TaskState.SUCCEEDED, RU, 0.4, duration=0.4),
        _change("version", TaskState.UP_TO_DATE, P, 0.5, reason="up to date: inputs unchanged"),
        _change("checks", RU, P, 0.5, log_path="logs/checks.log"),
        TaskOutput("checks", Stream.STDOUT, "integration round 1/3\n", T0 + 0.6),
        _change(
            "checks",
            TaskState.FAILED,
            RU,
            1.9,
            duration=1.4,
            failure=Failure(
                FailureKind.EXCEPTION,
                "AssertionError: checksum mismatch: expected 4 sections, found 3",
                traceback="Traceback (most recent call last):\nAssertionError: checksum mismatch: "
                "expected 4 sections, found 3\n",
                frames=(
                    Frame("checks.py", 7, "run_checks", "check_checksum([1, 2, 3])"),
                    Frame("checks.py", 3, "check_checksum", "assert expected == 4, ..."),
                ),
                exception_type="AssertionError",
            ),
        ),
        _change("docs_en", RU, P, 0.5, log_path="logs/docs_en.log"),
        _change("docs_en", TaskState.CANCELLED, RU, 2.0, duration=1.5, reason="cancelled by user"),
        _change("cc_runtime", RU, P, 1.0, log_path=runtime_log),
        TaskOutput("cc_runtime", Stream.STDERR, runtime_out, T0 + 2.0),
        _change(
            "cc_runtime",
            TaskState.FAILED,
            RU,
            3.2,
            duration=2.2,
            failure=Failure(FailureKind.EXIT, "exited with status 2", exit_code=2),
            log_path=runtime_log,
        ),
        _change("test", TaskState.BLOCKED, P, 3.2, reason="dependency failed: cc_runtime"),
        _change("cc_lexer", RU, P, 3.3, log_path="logs/cc_lexer.log"),
        _change("cc_parser", RU, P, 3.3, log_path="logs/cc_parser.log"),
        TaskOutput("cc_parser", Stream.STDOUT, "parsing grammar…\n", T0 + 20.0),
        TaskOutput("cc_lexer", Stream.STDOUT, lexer_out, T0 + 95.0),
        ResourceSample("cc_lexer", 97.0, 120 * 1024 * 1024, 3, T0 + 99.0),
        ResourceSample("cc_parser", 0.0, 30 * 1024 * 1024, 1, T0 + 99.0),
        _change("docs_fr", RD, P, 3.4),
    ]
    for event in events:
        app.bridge.inject(event)
    return app


def select(task: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, TuiBuildApp)
        await pilot.pause()
        app.panel.select_task(task)
        await pilot.pause()

    return run_before


def test_tree_every_state(
    snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = frozen_app(tmp_path, monkeypatch)
    assert snap_compare(app, terminal_size=(120, 32), run_before=select("cc_lexer"))


def test_list_view_with_failed_output(
    snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = frozen_app(tmp_path, monkeypatch)

    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.press("t")
        await select("cc_runtime")(pilot)

    assert snap_compare(app, terminal_size=(120, 32), run_before=run_before)


def test_failures_view_with_traceback(
    snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = frozen_app(tmp_path, monkeypatch)
    assert snap_compare(app, terminal_size=(120, 48), press=["f"])


def test_small_terminal(snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = frozen_app(tmp_path, monkeypatch)
    assert snap_compare(app, terminal_size=(80, 24), run_before=select("cc_parser"))
