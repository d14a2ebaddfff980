"""The dashboard's engine in a process of its own (:mod:`tui_build.ui.engine_process`).

Real forks, real tasks: the tasks are the engine process's children, not the UI's; a UI killed
outright (SIGKILL) leaves no task behind; an engine process that dies is reported and its tasks
are killed; a build lock held elsewhere is a usage error before the UI starts; a firehose the UI
does not read stays bounded in the UI's process and arrives complete (tail plus count).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from conftest import make_graph
from test_dashboard_live import _args

from tui_build import cli
from tui_build.events import TaskState
from tui_build.history import load_run
from tui_build.store import Store, store_dir
from tui_build.ui import launch
from tui_build.ui.engine_process import PENDING_CAP, EngineStartError, ProcessBridge
from tui_build.ui.line_store import OutputStore

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the engine forks")

PARENT_AND_SLEEP = """
[tasks.slow]
cmd = ["{python}", "-c", '''import os, subprocess, sys, time
open("ppid.txt", "w").write(str(os.getppid()))
child = subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(300)"])
open("pids.txt", "w").write(str(os.getpid()) + " " + str(child.pid))
print("started", flush=True)
time.sleep(300)''']
"""


def _until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _pids(folder: Path) -> list[int]:
    path = folder / "pids.txt"
    _until(lambda: path.exists() and path.read_text().count(" ") == 1, "the task's pids")
    return [int(p) for p in path.read_text().split()]


def _gone(pids: list[int]) -> bool:
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            pass
    return True


def _seq_bytes(n: int) -> int:
    """The size of `seq 1 n`'s output."""
    total, low = 0, 1
    while low <= n:
        high = min(n, low * 10 - 1)
        total += (high - low + 1) * (len(str(low)) + 1)
        low *= 10
    return total


def _drain_until(bridge: ProcessBridge, predicate: Callable[[], bool], what: str) -> None:
    def drained() -> bool:
        bridge.drain()
        return predicate()

    _until(drained, what)


def test_the_tasks_run_under_the_engines_process_not_the_uis(tmp_path: Path) -> None:
    toml = f"""
    [tasks.where]
    cmd = ["{sys.executable}", "-c", "import os; open('ppid.txt', 'w').write(str(os.getppid()))"]
    """
    graph = make_graph(tmp_path, toml)
    bridge = launch.start(graph, _args(), jobs=2)
    assert isinstance(bridge, ProcessBridge)
    try:
        _drain_until(bridge, lambda: bridge.summary.outcome == "succeeded", "the build's end")
    finally:
        summary = launch.finish(bridge)
    # The task's parent: the engine's process, or the spawn helper the engine started.
    parent_pid = int((tmp_path / "ppid.txt").read_text())
    assert parent_pid not in (os.getpid(), 0)
    assert summary.outcome == "succeeded" and bridge.said_goodbye
    assert not bridge.alive
    # The child recorded the run and let go of the build lock.
    assert load_run(graph.spec.path)[0].outcome == "succeeded"
    store = Store.open(store_dir(graph.spec.path))
    try:
        store.lock()
    finally:
        store.close()


def test_commands_reach_the_engine_and_a_rerun_continues_downstream(tmp_path: Path) -> None:
    from tui_build.events import Rerun

    toml = f"""
    [tasks.check]
    cmd = ["{sys.executable}", "-c", "import os, sys; sys.exit(not os.path.exists('fixed'))"]
    [tasks.after]
    cmd = ["{sys.executable}", "-c", "print('after ran')"]
    deps = ["check"]
    """
    graph = make_graph(tmp_path, toml)
    bridge = launch.start(graph, _args(), jobs=2)
    try:
        _drain_until(bridge, lambda: bridge.summary.outcome == "failed", "the failure")
        assert bridge.summary.tasks["after"].state is TaskState.BLOCKED
        (tmp_path / "fixed").write_text("")
        bridge.submit(Rerun(("check",)))
        _drain_until(bridge, lambda: bridge.summary.outcome == "succeeded", "the re-run's end")
    finally:
        summary = launch.finish(bridge)
    assert summary.tasks["after"].state is TaskState.SUCCEEDED
    assert summary.outcome == "succeeded"


def test_a_held_build_lock_stops_the_dashboard_before_it_starts(tmp_path: Path) -> None:
    graph = make_graph(tmp_path, '[tasks.a]\ncmd = ["true"]\n')
    store = Store.open(store_dir(graph.spec.path))
    store.lock()
    try:
        with pytest.raises(cli.UsageError, match=rf"another tuibuild \(pid {os.getpid()}\)"):
            launch.start(graph, _args(), jobs=2)
    finally:
        store.close()


def test_an_engine_process_that_dies_is_reported_and_its_tasks_killed(tmp_path: Path) -> None:
    graph = make_graph(tmp_path, PARENT_AND_SLEEP.format(python=sys.executable))
    bridge = launch.start(graph, _args(), jobs=2)
    assert isinstance(bridge, ProcessBridge)
    pids = _pids(tmp_path)
    parent = psutil.Process(int((tmp_path / "ppid.txt").read_text()))
    if parent.name() == "tuibuild-spawn":  # commands are the spawn helper's children
        parent = parent.parent()
    os.kill(parent.pid, signal.SIGKILL)
    summary = launch.finish(bridge)
    assert not bridge.said_goodbye
    assert bridge.error is not None and "status -9" in str(bridge.error)
    assert summary.outcome is None  # what the UI saw: the build never ended
    _until(lambda: _gone(pids), "the task and its setsid grandchild to be killed")


def test_a_ui_killed_outright_leaves_no_task_behind(tmp_path: Path) -> None:
    """SIGKILL of the UI's process: the engine's process sees its command pipe close, cancels
    everything (whole trees) and records the run."""
    make_graph(tmp_path, PARENT_AND_SLEEP.format(python=sys.executable))
    ui = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pathlib import Path
        from tui_build import cli
        from tui_build.graph import build_graph
        from tui_build.spec import parse_spec
        from tui_build.ui import launch

        path = Path("build.toml")
        graph = build_graph(parse_spec(path.read_text(), path.resolve())).select([])
        args = cli.build_parser().parse_args([])
        args.argv = []
        bridge = launch.start(graph, args, jobs=2)
        while True:
            bridge.drain()
            time.sleep(0.05)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", ui], cwd=tmp_path)
    try:
        pids = _pids(tmp_path)
    finally:
        process.kill()
        process.wait(10)
    _until(lambda: _gone(pids), "the task and its setsid grandchild to be killed")
    _until(lambda: load_run(tmp_path / "build.toml")[0].end is not None, "the run's record")
    run, results = load_run(tmp_path / "build.toml")
    assert run.outcome == "interrupted"
    assert [(r.task, r.state) for r in results] == [("slow", "cancelled")]


def test_a_firehose_the_ui_does_not_read_stays_bounded_and_arrives_whole(tmp_path: Path) -> None:
    lines = 3_000_000
    toml = f"""
    [tasks.hose]
    cmd = ["seq", "1", "{lines}"]
    """
    graph = make_graph(tmp_path, toml)
    bridge = launch.start(graph, _args(), jobs=2)
    assert isinstance(bridge, ProcessBridge)
    store = OutputStore()
    most = 0
    try:
        log = tmp_path / ".tuibuild"
        # The UI looks away while the task prints it all: only the log file gets everything.
        _until(
            lambda: sum(f.stat().st_size for f in log.rglob("*.log")) >= _seq_bytes(lines),
            "seq to finish",
            timeout=60,
        )
        most = bridge._queue.chars

        def fed() -> bool:
            batch = bridge.drain()
            for item in batch.output.get("hose", []):
                if isinstance(item, int):
                    store.skip("hose", item)
                else:
                    store.feed("hose", item)
            return bridge.summary.outcome == "succeeded"

        _until(fed, "the build's end")
    finally:
        launch.finish(bridge)
    assert most <= PENDING_CAP + 5_000_000
    shown = store.get("hose")
    assert shown is not None and shown.line_count == lines
    assert shown.line(lines - 1) == str(lines)


def test_what_the_engine_prints_waits_for_the_app_to_close(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A warning of the engine's (here: a corrupt store, moved aside) must not land on the
    dashboard's screen; the launcher prints it once the app has closed."""
    graph = make_graph(tmp_path, '[tasks.a]\ncmd = ["true"]\n')
    store = store_dir(graph.spec.path)
    store.mkdir(parents=True)
    (store / "state.db").write_bytes(b"this is not an SQLite database" * 100)
    bridge = launch.start(graph, _args(), jobs=2)
    assert isinstance(bridge, ProcessBridge)
    try:
        _drain_until(bridge, lambda: bridge.summary.outcome == "succeeded", "the build's end")
    finally:
        launch.finish(bridge)
    assert "unreadable" not in capfd.readouterr().err  # nothing reached the terminal meanwhile
    printed = bridge.printed()
    assert "tuibuild: warning:" in printed and "moved" in printed


def test_an_engine_that_cannot_start_is_an_error_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child forks with this process's memory, so a patched make_engine fails in it."""
    graph = make_graph(tmp_path, '[tasks.a]\ncmd = ["true"]\n')

    def broken(*args: object) -> None:
        raise RuntimeError("no engine today")

    monkeypatch.setattr(cli, "make_engine", broken)
    with pytest.raises(EngineStartError, match="cannot start the build: no engine today"):
        launch.start(graph, _args(), jobs=2)

    def dies(*args: object) -> None:
        os._exit(3)

    monkeypatch.setattr(cli, "make_engine", dies)
    with pytest.raises(EngineStartError, match="exited before it started"):
        launch.start(graph, _args(), jobs=2)
