"""The engine's state machine with a scriptable fake runner: order, limits, priorities, commands."""

from __future__ import annotations

from pathlib import Path

from conftest import FakeRunner, make_engine, make_graph, until

from tui_build.events import RunSummary, TaskState, TaskStateChanged

S = TaskState

CHAIN = """
[tasks.a]
cmd = ["fake"]
[tasks.b]
cmd = ["fake"]
deps = ["a"]
[tasks.c]
cmd = ["fake"]
deps = ["b"]
"""


async def test_dependencies_run_first_and_states_follow_the_design(
    tmp_path: Path, fake_runner: FakeRunner
) -> None:
    engine, rec = make_engine(make_graph(tmp_path, CHAIN), fake_runner, tmp_path, jobs=4)
    assert await engine.run() == "succeeded"
    assert fake_runner.started == ["a", "b", "c"]
    assert rec.transitions("c") == [S.READY, S.RUNNING, S.SUCCEEDED]


async def test_jobs_limit_is_never_exceeded(tmp_path: Path, fake_runner: FakeRunner) -> None:
    toml = "".join(f'[tasks.t{i}]\ncmd = ["fake"]\n' for i in range(12))
    engine, rec = make_engine(make_graph(tmp_path, toml), fake_runner, tmp_path, jobs=3)
    names = [f"t{i}" for i in range(12)]
    fake_runner.gate(*names)
    engine._start_loop()
    await until(lambda: len(fake_runner.running) == 3)
    for name in names:
        fake_runner.release(name)
    assert await engine.wait_finished() == "succeeded"
    assert fake_runner.max_running == 3
    # From the events alone: never more than 3 running at once.
    assert rec.peak_running() == 3


async def test_pool_depth_limits_its_tasks(tmp_path: Path, fake_runner: FakeRunner) -> None:
    toml = "[pools]\nlink = 1\n" + "".join(
        f'[tasks.l{i}]\ncmd = ["fake"]\npool = "link"\n' for i in range(4)
    )
    engine, _ = make_engine(make_graph(tmp_path, toml), fake_runner, tmp_path, jobs=4)
    fake_runner.gate("l0", "l1", "l2", "l3")
    engine._start_loop()
    await until(lambda: len(fake_runner.running) == 1)
    for name in ("l0", "l1", "l2", "l3"):
        fake_runner.release(name)
    assert await engine.wait_finished() == "succeeded"
    assert fake_runner.max_running == 1


async def test_longest_remaining_path_goes_first(tmp_path: Path, fake_runner: FakeRunner) -> None:
    toml = """
    [tasks.short]
    cmd = ["fake"]
    [tasks.long1]
    cmd = ["fake"]
    [tasks.long2]
    cmd = ["fake"]
    deps = ["long1"]
    [tasks.long3]
    cmd = ["fake"]
    deps = ["long2"]
    """
    engine, _ = make_engine(make_graph(tmp_path, toml), fake_runner, tmp_path, jobs=1)
    await engine.run()
    assert fake_runner.started[0] == "long1"
    assert fake_runner.started.index("short") > 0


async def test_recorded_weights_change_priorities(tmp_path: Path, fake_runner: FakeRunner) -> None:
    toml = '[tasks.x]\ncmd = ["fake"]\n[tasks.y]\ncmd = ["fake"]\n'
    graph = make_graph(tmp_path, toml)
    engine, _ = make_engine(graph, fake_runner, tmp_path, jobs=1, weights={"x": 1.0, "y": 9.0})
    await engine.run()
    assert fake_runner.started == ["y", "x"]


FAN = """
[tasks.bad]
cmd = ["fake", "fail"]
[tasks.after_bad]
cmd = ["fake"]
deps = ["bad"]
[tasks.slow]
cmd = ["fake"]
[tasks.other]
cmd = ["fake"]
deps = ["slow"]
"""


async def test_fail_fast_lets_running_finish_and_blocks_the_rest(
    tmp_path: Path, fake_runner: FakeRunner
) -> None:
    engine, _rec = make_engine(make_graph(tmp_path, FAN), fake_runner, tmp_path, jobs=2)
    fake_runner.gate("slow")
    engine._start_loop()
    await until(lambda: engine.state["bad"] is S.FAILED)
    assert engine.state["slow"] is S.RUNNING
    assert engine.state["after_bad"] is S.BLOCKED
    fake_runner.release("slow")
    assert await engine.wait_finished() == "failed"
    assert engine.state["slow"] is S.SUCCEEDED  # running work finished
    assert engine.state["other"] is S.BLOCKED  # nothing new started
    assert "other" not in fake_runner.started


async def test_keep_going_runs_everything_independent(
    tmp_path: Path, fake_runner: FakeRunner
) -> None:
    engine, _ = make_engine(
        make_graph(tmp_path, FAN), fake_runner, tmp_path, jobs=2, keep_going=True
    )
    assert await engine.run() == "failed"
    assert engine.state["other"] is S.SUCCEEDED
    assert engine.state["after_bad"] is S.BLOCKED
    assert "after_bad" not in fake_runner.started


SUBTREE = """
[tasks.dep1]
cmd = ["fake"]
[tasks.dep2]
cmd = ["fake"]
[tasks.mid]
cmd = ["fake"]
deps = ["dep1", "dep2"]
[tasks.top]
cmd = ["fake"]
deps = ["mid"]
[tasks.side]
cmd = ["fake"]
"""


async def test_cancel_a_subtree_kills_running_and_blocks_downstream(
    tmp_path: Path, fake_runner: FakeRunner
) -> None:
    engine, _rec = make_engine(make_graph(tmp_path, SUBTREE), fake_runner, tmp_path, jobs=4)
    fake_runner.gate("dep1", "dep2", "side")
    engine._start_loop()
    await until(lambda: {"dep1", "dep2", "side"} <= fake_runner.running)
    engine.cancel("mid")
    await until(lambda: engine.state["dep1"] is S.CANCELLED)
    assert sorted(fake_runner.cancelled) == ["dep1", "dep2"]
    assert engine.state["mid"] is S.CANCELLED
    assert engine.state["top"] is S.BLOCKED
    assert engine.state["side"] is S.RUNNING  # outside the subtree: untouched
    fake_runner.release("side")
    assert await engine.wait_finished() == "cancelled" or engine.state["top"] is S.BLOCKED
    assert engine.state["side"] is S.SUCCEEDED


async def test_a_cancel_before_the_task_first_runs_is_honoured(
    tmp_path: Path, fake_runner: FakeRunner
) -> None:
    """Cancelled the moment it is announced running (before its coroutine's first step): the
    runner never starts it, it ends cancelled, and the build still finishes."""
    engine, rec = make_engine(make_graph(tmp_path, CHAIN), fake_runner, tmp_path, jobs=1)

    def cancel_at_start(event: object) -> None:
        if isinstance(event, TaskStateChanged) and event.state is S.RUNNING:
            engine.cancel(event.task)
            engine.cancel(event.task)  # twice: still one transition

    engine.subscribe(cancel_at_start)
    assert await engine.run() == "failed"
    assert fake_runner.started == []
    assert rec.transitions("a") == [S.READY, S.RUNNING, S.CANCELLED]
    assert engine.state["c"] is S.BLOCKED
    assert not engine._running


async def test_a_cancel_while_the_runner_works_reaches_it_once(
    tmp_path: Path, fake_runner: FakeRunner
) -> None:
    engine, rec = make_engine(make_graph(tmp_path, CHAIN), fake_runner, tmp_path, jobs=1)
    fake_runner.gate("a")
    engine._start_loop()
    await until(lambda: "a" in fake_runner.running)
    engine.cancel("a")
    engine.cancel("a")
    assert await engine.wait_finished() == "failed"
    assert fake_runner.cancelled == ["a"]
    assert rec.transitions("a") == [S.READY, S.RUNNING, S.CANCELLED]
    engine.rerun("a")
    fake_runner.release("a")
    assert await engine.wait_finished() == "succeeded"


async def test_rerun_after_failure_continues_downstream(
    tmp_path: Path, fake_runner: FakeRunner
) -> None:
    engine, rec = make_engine(make_graph(tmp_path, SUBTREE), fake_runner, tmp_path, jobs=4)
    fake_runner.fail_once.add("dep1")
    assert await engine.run() == "failed"
    assert engine.state["dep1"] is S.FAILED
    assert engine.state["top"] is S.BLOCKED
    engine.rerun("dep1")
    assert await engine.wait_finished() == "succeeded"
    assert all(s is S.SUCCEEDED for s in engine.state.values())
    assert rec.transitions("top")[-4:] == [S.PENDING, S.READY, S.RUNNING, S.SUCCEEDED]
    # dep2 had succeeded and was outside the re-run: it did not run again.
    assert fake_runner.started.count("dep2") == 1


async def test_rerun_of_a_target_reruns_only_bad_tasks_unless_forced(
    tmp_path: Path, fake_runner: FakeRunner
) -> None:
    engine, _ = make_engine(make_graph(tmp_path, SUBTREE), fake_runner, tmp_path, jobs=4)
    fake_runner.fail_once.add("dep2")
    await engine.run()
    engine.rerun("top")
    assert await engine.wait_finished() == "succeeded"
    assert fake_runner.started.count("dep1") == 1
    assert fake_runner.started.count("dep2") == 2
    engine.rerun("mid", force=True)
    assert await engine.wait_finished() == "succeeded"
    assert fake_runner.started.count("dep1") == 2
    assert fake_runner.started.count("mid") == 2
    assert fake_runner.started.count("top") == 1  # forced subtree = mid and its dependencies


async def test_rerun_while_running_resumes_blocked_work(
    tmp_path: Path, fake_runner: FakeRunner
) -> None:
    engine, _ = make_engine(
        make_graph(tmp_path, SUBTREE), fake_runner, tmp_path, jobs=4, keep_going=True
    )
    fake_runner.fail_once.add("dep1")
    fake_runner.gate("side")
    engine._start_loop()
    await until(lambda: engine.state["top"] is S.BLOCKED)
    engine.rerun("dep1")
    await until(lambda: engine.state["top"] is S.SUCCEEDED)
    fake_runner.release("side")
    assert await engine.wait_finished() == "succeeded"


async def test_cancel_all_and_rerun_failed(tmp_path: Path, fake_runner: FakeRunner) -> None:
    engine, _ = make_engine(make_graph(tmp_path, SUBTREE), fake_runner, tmp_path, jobs=2)
    fake_runner.gate("dep1", "dep2")
    engine._start_loop()
    await until(lambda: len(fake_runner.running) == 2)
    engine.cancel_all()
    assert await engine.wait_finished() == "cancelled"
    assert {engine.state[n] for n in ("dep1", "dep2", "mid", "top", "side")} == {S.CANCELLED}
    engine.rerun_failed()
    fake_runner.release("dep1", "dep2")
    assert await engine.wait_finished() == "succeeded"


async def test_aggregate_and_summary_from_events_alone(
    tmp_path: Path, fake_runner: FakeRunner
) -> None:
    toml = CHAIN + '[tasks.all]\ndeps = ["c"]\n[tasks.noisy]\ncmd = ["fake", "out=hello"]\n'
    engine, rec = make_engine(make_graph(tmp_path, toml), fake_runner, tmp_path, jobs=2)
    await engine.run()
    summary = RunSummary().apply_all(rec.events)
    assert summary.outcome == "succeeded"
    assert summary.counts()[S.SUCCEEDED] == 5
    assert summary.tasks["all"].state is S.SUCCEEDED
    assert "all" not in fake_runner.started  # an aggregate runs nothing
    log = Path(summary.tasks["noisy"].log_path or "")
    assert log.read_text() == "hello\n"


async def test_interrupt_ends_interrupted(tmp_path: Path, fake_runner: FakeRunner) -> None:
    engine, _ = make_engine(make_graph(tmp_path, CHAIN), fake_runner, tmp_path, jobs=2)
    fake_runner.gate("a")
    engine._start_loop()
    await until(lambda: "a" in fake_runner.running)
    engine.interrupt()
    assert await engine.wait_finished() == "interrupted"
    assert engine.state["a"] is S.CANCELLED


async def test_a_log_that_cannot_be_written_fails_the_task_instead_of_hanging(
    tmp_path: Path, fake_runner: FakeRunner
) -> None:
    long_name = "t" * 300  # too long a file name for the log: open() at its first byte fails
    toml = f'[tasks.{long_name}]\ncmd = ["fake", "out=hello"]\n'
    toml += f'[tasks.after]\ncmd = ["fake"]\ndeps = ["{long_name}"]\n'
    engine, _ = make_engine(make_graph(tmp_path, toml), fake_runner, tmp_path, jobs=1)
    assert await engine.run() == "failed"
    failure = engine.summary.tasks[long_name].failure
    assert failure is not None and "cannot write the task's log" in failure.message
    assert engine.state["after"] is S.BLOCKED
