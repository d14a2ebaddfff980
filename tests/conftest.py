"""Shared fixtures: build files in temp folders, a scriptable fake runner, the installed CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tui_build.engine import Engine
from tui_build.events import Event, Failure, FailureKind, Stream, TaskState, TaskStateChanged
from tui_build.graph import Graph, build_graph
from tui_build.runners.base import Job, Outcome, OutputSink
from tui_build.spec import parse_spec

BIN = Path(sys.executable).parent


def make_graph(root: Path, toml: str, targets: Sequence[str] = ()) -> Graph:
    """Write `toml` as root/build.toml and return its selected graph."""
    path = root / "build.toml"
    text = textwrap.dedent(toml)
    path.write_text(text)
    return build_graph(parse_spec(text, path)).select(list(targets))


@dataclass
class FakeRunner:
    """Runs no process: each job waits on its gate (if any), prints, then succeeds or fails.

    Behaviour comes from the job's argv: `["fake", "fail"]` fails, `["fake", "out=TEXT"]` prints.
    Tests open gates to decide exactly when each task finishes.
    """

    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    running: set[str] = field(default_factory=set)
    max_running: int = 0
    fail_once: set[str] = field(default_factory=set)

    def gate(self, *names: str) -> None:
        for name in names:
            self.gates[name] = asyncio.Event()

    def release(self, *names: str) -> None:
        for name in names:
            self.gates[name].set()

    def accepts(self, job: Job) -> bool:
        return True

    async def run(self, job: Job, sink: OutputSink) -> Outcome:
        self.started.append(job.task)
        self.running.add(job.task)
        self.max_running = max(self.max_running, len(self.running))
        sink.started(None)
        try:
            argv = job.argv or ()
            for arg in argv:
                if arg.startswith("out="):
                    sink.output(Stream.STDOUT, arg[4:].encode() + b"\n")
            gate = self.gates.get(job.task)
            if gate is not None:
                await gate.wait()
            else:
                await asyncio.sleep(0)
            if "fail" in argv or job.task in self.fail_once:
                self.fail_once.discard(job.task)
                return Outcome(Failure(FailureKind.EXIT, "exited with status 1", exit_code=1))
            return Outcome(result=None)
        except asyncio.CancelledError:
            self.cancelled.append(job.task)
            raise
        finally:
            self.running.discard(job.task)

    async def close(self) -> None:
        return None


class Recorder:
    """Collects events; answers questions about states and transitions."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def peak_running(self) -> int:
        """The most tasks RUNNING at once, from the state changes alone."""
        running = peak = 0
        for e in self.events:
            if isinstance(e, TaskStateChanged):
                if e.state is TaskState.RUNNING:
                    running += 1
                elif e.previous is TaskState.RUNNING:
                    running -= 1
                peak = max(peak, running)
        return peak

    def transitions(self, task: str) -> list[TaskState]:
        return [e.state for e in self.events if isinstance(e, TaskStateChanged) and e.task == task]

    def started_order(self) -> list[str]:
        return [
            e.task
            for e in self.events
            if isinstance(e, TaskStateChanged) and e.state is TaskState.RUNNING
        ]


def make_engine(
    graph: Graph, runner: object, tmp_path: Path, **kwargs: object
) -> tuple[Engine, Recorder]:
    engine = Engine(graph, runner, log_root=tmp_path / "logs", **kwargs)  # type: ignore[arg-type]
    recorder = Recorder()
    engine.subscribe(recorder)
    return engine, recorder


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (by polling the loop, not by a fixed sleep) until `predicate()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def run_cli(
    args: Sequence[str], cwd: Path, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed `tuibuild` command as a user would (no TTY)."""
    exe = BIN / "tuibuild"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "tui_build"]
    full_env = dict(os.environ, NO_COLOR="1")
    full_env.pop("FORCE_COLOR", None)
    full_env.update(env or {})
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def fake_runner() -> FakeRunner:
    return FakeRunner()
