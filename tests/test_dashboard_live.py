"""The dashboard as one build among others: its run is recorded, its ETA comes from the history,
and the failures view follows re-runs while it is open."""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FakeRunner, make_graph
from test_dashboard import SIZE, build, settled, wait

from tui_build import cli
from tui_build.events import (
    BuildStarted,
    Rerun,
    RunSummary,
    TaskInfo,
    TaskState,
    TaskStateChanged,
)
from tui_build.history import load_run
from tui_build.store import Store, store_dir
from tui_build.ui import launch
from tui_build.ui.app import make_app
from tui_build.ui.eta import eta
from tui_build.ui.screens.confirm import ConfirmScreen
from tui_build.ui.screens.failures import FailuresScreen
from tui_build.ui.widgets.failures import FailureCard

# -- the store session ----------------------------------------------------------------------


def _args(**overrides: object) -> argparse.Namespace:
    args = cli.build_parser().parse_args([])
    args.argv = []
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def _lock_is_free(build_file: Path) -> bool:
    store = Store.open(store_dir(build_file))
    try:
        store.lock()
        return True
    except Exception:
        return False
    finally:
        store.close()


async def test_quitting_while_tasks_run_records_the_run_cancelled(tmp_path: Path) -> None:
    toml = f"""
    [tasks.slow]
    cmd = ["{sys.executable}", "-c", "import time; print('sleeping', flush=True); time.sleep(60)"]
    """
    graph = make_graph(tmp_path, toml)
    bridge = launch.start(graph, _args(), jobs=2)
    app = make_app(graph, bridge, system_stats=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait(pilot, lambda: "slow" in app.summary.tasks, timeout=20)
            await wait(pilot, lambda: app.summary.tasks["slow"].state is TaskState.RUNNING)
            await pilot.press("q")
            await wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await wait(pilot, lambda: not app.is_running)
    finally:
        summary = await asyncio.get_running_loop().run_in_executor(None, launch.finish, bridge)
    assert summary.outcome == "cancelled"
    run, results = load_run(graph.spec.path)
    assert run.outcome == "cancelled"
    assert [(r.task, r.state) for r in results if r.state != "running"] == [("slow", "cancelled")]
    assert _lock_is_free(graph.spec.path)


async def test_a_finished_dashboard_run_leaves_nothing_to_do(tmp_path: Path) -> None:
    """Recorded and unlocked: the next command (headless here) finds everything up to date."""
    toml = f"""
    [tasks.make]
    cmd = ["{sys.executable}", "-c", "open('out.txt', 'w').write('made')"]
    inputs = ["build.toml"]
    outputs = ["out.txt"]
    """
    graph = make_graph(tmp_path, toml)
    bridge = launch.start(graph, _args(), jobs=2)
    app = make_app(graph, bridge, system_stats=False, exit_on_finish=True)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait(pilot, lambda: not app.is_running, timeout=20)
    finally:
        summary = await asyncio.get_running_loop().run_in_executor(None, launch.finish, bridge)
    assert summary.outcome == "succeeded"
    assert load_run(graph.spec.path)[0].outcome == "succeeded"
    # A second process: it would stop at the build lock had the dashboard kept it.
    again = subprocess.run(
        [sys.executable, "-m", "tui_build", "--no-tui"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == cli.EXIT_OK, again.stderr
    assert "Nothing to do: all 1 task up to date" in again.stdout


# -- ETA -----------------------------------------------------------------------------------


def _summary(states: dict[str, TaskState], deps: dict[str, tuple[str, ...]], jobs: int = 2):
    summary = RunSummary()
    infos = tuple(TaskInfo(n, n, "g", deps.get(n, ())) for n in states)
    summary.apply(BuildStarted("r", "b.toml", (), infos, jobs, "logs", time=0.0))
    for name, state in states.items():
        if state is not TaskState.PENDING:
            summary.apply(TaskStateChanged(name, state, TaskState.READY, time=10.0, duration=1.0))
    return summary


def test_eta_from_recorded_durations_spreads_work_over_jobs() -> None:
    states = {n: TaskState.PENDING for n in "abcd"}
    recorded = {"a": 10.0, "b": 10.0, "c": 20.0, "d": 40.0}
    assert eta(_summary(states, {}), 10.0, recorded) == 40.0  # 80 s of work on 2 jobs, ≥ d
    assert eta(_summary(states, {}, jobs=8), 10.0, recorded) == 40.0  # the longest task bounds


def test_eta_is_bounded_by_the_longest_chain_and_counts_down_running_tasks() -> None:
    states = {"a": TaskState.RUNNING, "b": TaskState.PENDING, "c": TaskState.PENDING}
    deps = {"b": ("a",), "c": ("b",)}
    recorded = {"a": 30.0, "b": 5.0, "c": 5.0}
    summary = _summary(states, deps, jobs=4)
    # a started at 10 s and has run 12 s: 18 s left, then b and c one after the other.
    assert eta(summary, 22.0, recorded) == 28.0


def test_eta_falls_back_to_the_runs_average_and_refuses_to_guess_blind() -> None:
    states = {
        "a": TaskState.SUCCEEDED,
        "b": TaskState.SUCCEEDED,
        "c": TaskState.SUCCEEDED,
        "d": TaskState.PENDING,
        "e": TaskState.PENDING,
    }
    assert eta(_summary(states, {}), 10.0, {}) == 1.0  # two tasks of ~1 s on 2 jobs
    assert eta(_summary(states, {}), 10.0, {"e": 6.0}) == 6.0  # history wins where it exists
    blind = {"a": TaskState.SUCCEEDED, "d": TaskState.PENDING}
    assert eta(_summary(blind, {}), 10.0, {}) is None


async def test_header_shows_the_eta_from_the_store_at_once(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.gate("prepare")
    app, engine = build(tmp_path, runner, jobs=1)
    app.bridge.durations = {"prepare": 100.0, "compile": 50.0, "docs": 20.0, "link": 10.0}
    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: "prepare" in app.summary.tasks)
        header = app.query_one("#header")
        await wait(pilot, lambda: "ETA ~" in header.render().renderables[0].plain)
        line = header.render().renderables[0].plain
        # 180 s of work, one job, nothing has finished yet (counting down since)
        assert re.search(r"ETA ~(3m00s|2m5\ds)", line), line
        runner.release("prepare")
        await settled(pilot, app, engine)


# -- the failures view, live ------------------------------------------------------------------


def _cards(app: object) -> dict[str, FailureCard]:
    screen = app.screen  # type: ignore[attr-defined]
    return {c.task_name: c for c in screen.query(FailureCard)}


async def test_failures_view_follows_a_rerun_and_new_failures(tmp_path: Path) -> None:
    runner = FakeRunner(fail_once={"compile", "docs"})
    runner.gate("docs")
    app, engine = build(tmp_path, runner)
    engine.keep_going = True
    async with app.run_test(size=SIZE) as pilot:
        await wait(
            pilot,
            lambda: (
                "compile" in app.summary.tasks
                and app.summary.tasks["compile"].state is TaskState.FAILED
            ),
        )
        await pilot.press("f")
        await wait(pilot, lambda: isinstance(app.screen, FailuresScreen))
        assert list(_cards(app)) == ["compile"]

        runner.release("docs")  # fails while the view is open: its card appears
        await wait(pilot, lambda: "docs" in _cards(app))
        # the title follows once the mount is done (the same batch)
        await wait(
            pilot, lambda: "Failures (2)" in str(app.screen.query_one("#failures-title").render())
        )

        runner.gate("compile")  # the re-run (from elsewhere: `F`, a script) waits here
        app.submit(Rerun(("compile",)))
        await wait(pilot, lambda: _cards(app)["compile"].rerunning)
        assert "re-running…" in str(_cards(app)["compile"].border_title)

        runner.release("compile")  # it succeeds: its card goes, the other stays
        await wait(pilot, lambda: list(_cards(app)) == ["docs"])
        app.submit(Rerun(("docs",)))
        await wait(pilot, lambda: not _cards(app))
        # the "no failures" line shows once the removal has been followed up (same batch)
        await wait(pilot, lambda: app.screen.query_one("#no-failures").display)
        assert "Failures (0)" in str(app.screen.query_one("#failures-title").render())
        await settled(pilot, app, engine)
        assert engine.state["all"] is TaskState.SUCCEEDED


# -- a burst longer than the tail ---------------------------------------------------------------


def test_a_burst_longer_than_the_tail_numbers_lines_as_small_chunks_do() -> None:
    """A firehose arrives in megabyte batches; its lines keep their numbers, tail and all."""
    from tui_build.ui.line_store import TaskLines

    text = "".join(f"line {i}\r\n" if i % 7 == 0 else f"line {i}\n" for i in range(30_000))
    text += "open"
    burst, trickle = TaskLines("a", None, tail_limit=1000), TaskLines("b", None, tail_limit=1000)
    burst.feed(text[:5]), burst.feed(text[5:])
    for start in range(0, len(text), 37):
        trickle.feed(text[start : start + 37])
    assert burst.line_count == trickle.line_count == 30_001
    assert burst.first_in_memory >= trickle.first_in_memory - 1000
    for index in range(burst.first_in_memory, burst.line_count):
        assert burst.line(index) == trickle.line(index)
    assert burst.line(29_999) == "line 29999" and burst.line(30_000) == "open"
    assert burst.held_lines <= 1000


def test_the_bridge_queue_keeps_a_firehose_bounded(tmp_path: Path) -> None:
    """Output the UI has not drained yet collapses: the tail is kept, the rest counted."""
    from tui_build.engine import Engine
    from tui_build.events import Stream, TaskOutput
    from tui_build.ui.bridge import Bridge
    from tui_build.ui.feed import OUTPUT_CAP, _OutputRun
    from tui_build.ui.line_store import TAIL_LINES, OutputStore

    graph = make_graph(tmp_path, '[tasks.hose]\ncmd = ["fake"]\n')
    bridge = Bridge(Engine(graph, FakeRunner(), jobs=1), threaded=False)  # type: ignore[arg-type]
    chunk = "".join(f"{i}\n" for i in range(100_000))
    total_lines = 0
    for _ in range(30):
        bridge.inject(TaskOutput("hose", Stream.STDOUT, chunk, 1.0))
        total_lines += 100_000
    queued = [e for e in bridge._queue._queue if isinstance(e, _OutputRun)]
    assert len(queued) == 1 and queued[0].chars <= OUTPUT_CAP + len(chunk)
    batch = bridge.drain()
    store = OutputStore()
    for item in batch.output["hose"]:
        if isinstance(item, int):
            store.skip("hose", item)
        else:
            store.feed("hose", item)
    lines = store.get("hose")
    assert lines is not None and lines.line_count == total_lines
    assert lines.line(total_lines - 1) == "99999"
    assert lines.held_lines <= TAIL_LINES + TAIL_LINES // 4


def test_a_firehose_of_long_lines_is_trimmed_now_and_then_not_at_every_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tail of 20,000 long lines is itself over the cap: trimming it again at every chunk
    copied megabytes per chunk on the engine's thread (seconds for a 36 MB burst)."""
    from tui_build.ui import feed as bridge_module
    from tui_build.ui.line_store import TAIL_LINES

    trims: list[int] = []

    def counted(text: str, lines: int) -> int:
        trims.append(lines)
        return real(text, lines)

    real = bridge_module.last_lines_start
    monkeypatch.setattr(bridge_module, "last_lines_start", counted)
    run = bridge_module._OutputRun("hose")
    chunk = "".join(f"{i:06d}" + "y" * 293 + "\n" for i in range(200))  # 200 lines of 300 chars
    for _ in range(600):
        run.add(chunk, 1.0)
    assert 1 <= len(trims) <= 20
    text = "".join(run.parts)
    assert run.skipped + text.count("\n") == 600 * 200
    assert text.count("\n") >= TAIL_LINES and text.endswith("000199" + "y" * 293 + "\n")


def test_batches_from_the_engines_process_collapse_as_one_run_would() -> None:
    """The UI's queue merges the runs that several batches brought: the lines counted and the
    tail kept are those one run of all the output gives, and what waits stays bounded."""
    from tui_build.events import Stream, TaskOutput
    from tui_build.ui.feed import OUTPUT_CAP, EventQueue
    from tui_build.ui.line_store import OutputStore

    def shown(queue: EventQueue) -> tuple[int, list[str]]:
        store = OutputStore()
        for item in queue.take():
            if item.skipped:  # type: ignore[union-attr]
                store.skip("hose", item.skipped)  # type: ignore[union-attr]
            store.feed("hose", "".join(item.parts))  # type: ignore[union-attr]
        lines = store.get("hose")
        assert lines is not None
        return lines.line_count, [
            lines.line(i) for i in range(lines.line_count - 3, lines.line_count)
        ]

    chunks = [
        "".join(f"{b}-{i} " + "z" * 40 + "\n" for i in range(20_000)) + f"cut {b} "
        for b in range(40)
    ]
    reference = EventQueue()
    ui = EventQueue()
    child = EventQueue()
    for n, chunk in enumerate(chunks):
        reference.put(TaskOutput("hose", Stream.STDOUT, chunk, 1.0))
        child.put(TaskOutput("hose", Stream.STDOUT, chunk, 1.0))
        if n % 3 == 2:  # the child's outbox sends a batch now and then
            ui.put_all(list(child.take()))
    ui.put_all(list(child.take()))
    assert ui.chars <= 2 * OUTPUT_CAP
    assert len(ui._queue) == 1
    merged, expected = shown(ui), shown(reference)
    assert merged == expected
    assert expected[0] == 40 * 20_000 + 1  # every line counted, the open "cut 39 " last
    assert expected[1][-1] == "cut 39 " and expected[1][-2].startswith("39-19999 ")
