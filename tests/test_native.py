"""The spawn helper (tui_build/native/spawn_helper.c) and the engine's look-ahead through it.

Commands handed over before a slot is free wait in the helper; these tests check that the jobs
limit still holds, that fail-fast starts nothing after a failure, that a cancel takes back what
waits, and that a helper that dies costs only the commands it had.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import psutil
import pytest
from conftest import Recorder, make_graph, until

from tui_build.engine import Engine
from tui_build.events import Stream, TaskState
from tui_build.runners import CommandRunner, LocalRunner, native
from tui_build.runners.base import Job

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the helper is Linux-only"),
]
S = TaskState


@pytest.fixture(autouse=True)
def _helper_built() -> None:
    assert native.available(), "the spawn helper was not built (hatch_build.py)"


class Sink:
    def __init__(self) -> None:
        self.out = b""
        self.pid: int | None = None

    def started(self, pid: int | None) -> None:
        self.pid = pid

    def output(self, stream: Stream, data: bytes) -> None:
        self.out += data

    def sample(self, cpu_percent: float, rss_bytes: int, processes: int) -> None:
        pass


def job(tmp_path: Path, *argv: str) -> Job:
    return Job(task="t", argv=argv, cwd=tmp_path, env=dict(os.environ))


async def test_a_queued_command_starts_only_when_one_has_ended(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    helper = native.helper_for(loop)
    assert helper is not None
    order: list[str] = []
    children = []
    for i in range(3):
        started, output, entry = helper.spawn(
            ["sh", "-c", f"echo {i}; sleep 0.05"],
            cwd=tmp_path,
            env=dict(os.environ),
            extra="",
            sink=Sink(),
            limit=1,
        )
        children.append((started, output, entry))

        def on_start(_: object, i: int = i) -> None:
            # The one before has been reaped when this one starts (its 'X' comes first).
            if i > 0:
                before = children[i - 1][2].child
                assert before is not None and before.returncode == 0
            order.append(f"start {i}")

        started.add_done_callback(on_start)
    for started, output, entry in children:
        await started
        assert entry.child is not None
        assert await entry.child.wait() == 0
        output.watch()
        assert await output.drain(5)
    assert order == ["start 0", "start 1", "start 2"]
    native.close_helper(loop)


async def test_a_withdrawn_command_never_starts(tmp_path: Path) -> None:
    runner = CommandRunner()
    assert runner.queue(1)
    marker = tmp_path / "ran"
    first = asyncio.ensure_future(runner.run(job(tmp_path, "sleep", "0.2"), Sink()))
    second = asyncio.ensure_future(runner.run(job(tmp_path, "touch", str(marker)), Sink()))
    await asyncio.sleep(0.05)  # both handed over: the first runs, the second waits
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert (await first).ok
    # Requests start in order: once a later one has run, the withdrawn one would have too.
    assert (await runner.run(job(tmp_path, "true"), Sink())).ok
    assert not marker.exists()
    await runner.close()


def look_ahead_engine(
    tmp_path: Path, toml: str, jobs: int, **kwargs: object
) -> tuple[Engine, Recorder]:
    graph = make_graph(tmp_path, toml)
    engine = Engine(graph, LocalRunner(jobs), jobs=jobs, log_root=tmp_path / "logs", **kwargs)  # type: ignore[arg-type]
    recorder = Recorder()
    engine.subscribe(recorder)
    assert engine._lookahead
    return engine, recorder


async def test_look_ahead_keeps_the_jobs_limit_in_the_events(tmp_path: Path) -> None:
    toml = "".join(f'[tasks.t{i}]\ncmd = ["sh", "-c", "echo {i}; exit 0"]\n' for i in range(40))
    engine, recorder = look_ahead_engine(tmp_path, toml, jobs=2)
    try:
        assert await engine.run() == "succeeded"
    finally:
        await engine.runner.close()
    assert recorder.peak_running() == 2
    assert all(recorder.transitions(f"t{i}")[-1] is S.SUCCEEDED for i in range(40))


async def test_fail_fast_starts_nothing_after_a_failure(tmp_path: Path) -> None:
    # `bad` goes first (its dependent gives it the longest path); the rest were handed over
    # early and wait in the helper when it fails: none of them may start.
    toml = '[tasks.bad]\ncmd = ["sh", "-c", "sleep 0.1; exit 1"]\n'
    toml += '[tasks.after]\ncmd = ["true"]\ndeps = ["bad"]\n'
    toml += "".join(f'[tasks.t{i}]\ncmd = ["touch", "{tmp_path}/ran{i}"]\n' for i in range(6))
    engine, recorder = look_ahead_engine(tmp_path, toml, jobs=1)
    try:
        assert await engine.run() == "failed"
    finally:
        await engine.runner.close()
    assert list(tmp_path.glob("ran*")) == []
    assert engine.state["bad"] is S.FAILED
    assert all(engine.state[f"t{i}"] is S.BLOCKED for i in range(6))
    assert recorder.peak_running() == 1


async def test_a_cancel_that_does_not_stop_the_build_lets_the_waiting_ones_start(
    tmp_path: Path,
) -> None:
    toml = '[tasks.long]\ncmd = ["sleep", "30"]\n[tasks.next]\ncmd = ["sh", "-c", "true"]\n'
    toml += '[tasks.after]\ncmd = ["true"]\ndeps = ["long"]\n'
    engine, _ = look_ahead_engine(tmp_path, toml, jobs=1)
    engine._start_loop()
    try:
        while engine.state["long"] is not S.RUNNING:
            await asyncio.sleep(0.01)
        assert "next" in engine._early  # handed over, waiting behind `long`
        engine.cancel("long")
        # `after` is blocked by the cancel, so the build as a whole "failed".
        assert await engine.wait_finished() == "failed"
    finally:
        await engine.runner.close()
    # The killed `long` exited unsuccessfully, which pauses the queue; the engine resumed it.
    assert engine.state["long"] is S.CANCELLED
    assert engine.state["next"] is S.SUCCEEDED


async def test_a_helper_that_dies_fails_only_its_commands(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    runner = CommandRunner(kill_grace=0.2)
    sink = Sink()
    running = asyncio.ensure_future(runner.run(job(tmp_path, "sleep", "30"), sink))
    while sink.pid is None:
        await asyncio.sleep(0.01)
    helper = native.helper_for(loop)
    assert helper is not None
    os.kill(helper._process.pid, signal.SIGKILL)
    outcome = await asyncio.wait_for(running, 10)
    assert outcome.failure is not None and "SIGKILL" in outcome.failure.message
    pid = sink.pid

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    await until(gone)  # its group got SIGKILL: it is gone as soon as the signal lands
    # The next command gets a new helper.
    again = Sink()
    assert (await runner.run(job(tmp_path, "echo", "again"), again)).ok
    assert again.out == b"again\n"
    await runner.close()


async def test_a_stale_helper_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A binary left from an older install speaks another protocol: commands start from Python,
    # still at most `jobs` at once.
    monkeypatch.setattr(native, "PROTOCOL", native.PROTOCOL + 1)
    monkeypatch.setattr(native, "_warned", False)
    runner = CommandRunner()
    assert runner.queue(1)
    sink = Sink()
    outcomes = await asyncio.gather(
        runner.run(job(tmp_path, "echo", "from python"), sink),
        runner.run(job(tmp_path, "true"), Sink()),
    )
    assert all(o.ok for o in outcomes)
    assert sink.out == b"from python\n"
    assert native.helper_for(asyncio.get_running_loop()) is None
    assert "reinstall tuibuild" in capsys.readouterr().err
    await runner.close()
