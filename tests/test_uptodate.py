"""Up to date or not, and why: every reason to run and to skip, through the real engine.

The runner is a fake that writes the files named `write=PATH` in its argv, so these tests run no
process; the store, the checker and the engine are the real ones.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
from pathlib import Path

import pytest
from conftest import FakeRunner, until

from tui_build.engine import Engine
from tui_build.events import TaskState
from tui_build.graph import Graph, build_graph
from tui_build.runners.base import Job, Outcome, OutputSink
from tui_build.session import dry_run, open_session
from tui_build.spec import parse_spec
from tui_build.store import Store, store_dir

S = TaskState


class WritingRunner(FakeRunner):
    """A fake runner whose jobs create the files named `write=PATH` (relative to the root)."""

    async def run(self, job: Job, sink: OutputSink) -> Outcome:
        outcome = await super().run(job, sink)
        if outcome.ok:
            for arg in job.argv or ():
                if arg.startswith("write="):
                    path = job.root / arg[6:]
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(f"made by {job.task}\n")
        return outcome


def graph_of(root: Path, toml: str | None = None, targets: tuple[str, ...] = ()) -> Graph:
    path = root / "build.toml"
    if toml is not None:
        path.write_text(textwrap.dedent(toml))
    return build_graph(parse_spec(path.read_text(), path)).select(list(targets))


async def build(
    root: Path, toml: str | None = None, *, force: bool = False, runner: FakeRunner | None = None
) -> dict[str, TaskState]:
    """One build with the store, as `tuibuild` runs it; the final state of every task."""
    graph = graph_of(root, toml)
    session = open_session(graph, argv=[], typed_targets=(), force=force)
    engine = Engine(
        graph,
        runner or WritingRunner(),
        jobs=2,
        run_id=session.run_id,
        weights=session.weights,
        checker=session.checker,
    )
    session.attach(engine)
    try:
        await engine.run()
    finally:
        session.close()
    return dict(engine.state)


def reasons(root: Path, *, force: bool = False) -> dict[str, str]:
    """What `--dry-run` says would run, task -> reason (only tasks that would run)."""
    entries = dry_run(graph_of(root), force=force)
    return {e.name: e.reason for e in entries if e.run}


def bump(path: Path, text: str | None = None) -> None:
    """Change a file so that its mtime surely differs (coarse file-system clocks)."""
    st = path.stat()
    if text is not None:
        path.write_text(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


COPY = """
[tasks.gen]
cmd = ["fake", "write=gen.txt"]
inputs = ["src.txt"]
outputs = ["gen.txt"]

[tasks.use]
cmd = ["fake", "write=use.txt"]
inputs = ["gen.txt"]
outputs = ["use.txt"]
deps = ["gen"]

[tasks.all]
deps = ["use"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src.txt").write_text("source\n")
    return tmp_path


async def test_second_build_skips_everything(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await build(project, COPY) == {
        "gen": S.SUCCEEDED,
        "use": S.SUCCEEDED,
        "all": S.SUCCEEDED,
    }
    assert await build(project) == {"gen": S.UP_TO_DATE, "use": S.UP_TO_DATE, "all": S.UP_TO_DATE}
    assert reasons(project) == {}
    assert "Nothing to do: all 3 tasks up to date" in capsys.readouterr().out


async def test_never_succeeded(project: Path) -> None:
    graph_of(project, COPY)
    assert reasons(project) == {
        "gen": "never succeeded",
        "use": "never succeeded",
        "all": "dependency will run: use",
    }


async def test_input_changed_runs_it_and_what_depends_on_it(project: Path) -> None:
    await build(project, COPY)
    bump(project / "src.txt", "new source\n")
    assert reasons(project) == {
        "gen": "input changed: src.txt",
        "use": "dependency will run: gen",
        "all": "dependency will run: use",
    }
    states = await build(project)
    assert states == {"gen": S.SUCCEEDED, "use": S.SUCCEEDED, "all": S.SUCCEEDED}
    assert await build(project) == dict.fromkeys(states, S.UP_TO_DATE)


async def test_a_dependency_that_reran_makes_its_dependents_run(project: Path) -> None:
    (project / "gen.txt").write_text("made once\n")
    # gen re-runs but leaves gen.txt alone: only "dependency ran" can make use run.
    await build(project, COPY.replace('cmd = ["fake", "write=gen.txt"]', 'cmd = ["fake"]'))
    bump(project / "src.txt")
    runner = WritingRunner()
    states = await build(project, runner=runner)
    assert runner.started == ["gen", "use"]
    assert states["use"] is S.SUCCEEDED


async def test_command_and_env_changes(project: Path) -> None:
    await build(project, COPY)
    graph_of(project, COPY.replace('"write=use.txt"]', '"write=use.txt", "-v"]'))
    assert reasons(project) == {"use": "command changed", "all": "dependency will run: use"}
    await build(project)
    graph_of(project, COPY.replace("[tasks.use]", '[tasks.use]\nenv = { MODE = "fast" }'))
    assert reasons(project)["use"] == "command changed"


async def test_output_missing(project: Path) -> None:
    await build(project, COPY)
    (project / "use.txt").unlink()
    assert reasons(project) == {"use": "output missing: use.txt", "all": "dependency will run: use"}


async def test_glob_inputs_added_and_removed_between_runs(project: Path) -> None:
    (project / "parts").mkdir()
    (project / "parts" / "a.txt").write_text("a")
    toml = """
    [tasks.join]
    cmd = ["fake", "write=joined.txt", "{inputs}"]
    inputs = ["parts/*.txt"]
    outputs = ["joined.txt"]
    """
    await build(project, toml)
    assert await build(project) == {"join": S.UP_TO_DATE}
    (project / "parts" / "b.txt").write_text("b")
    assert reasons(project) == {"join": "input added: parts/b.txt"}
    await build(project)
    (project / "parts" / "a.txt").unlink()
    assert reasons(project) == {"join": "input removed: parts/a.txt"}
    assert await build(project) == {"join": S.SUCCEEDED}
    assert await build(project) == {"join": S.UP_TO_DATE}


async def test_foreach_over_a_glob_picks_up_a_new_file(project: Path) -> None:
    (project / "src").mkdir()
    (project / "src" / "a.c").write_text("a")
    toml = """
    [tasks.cc]
    foreach = "src/*.c"
    cmd = ["fake", "write=obj/{stem}.o"]
    inputs = ["{input}"]
    outputs = ["obj/{stem}.o"]
    """
    await build(project, toml)
    (project / "src" / "b.c").write_text("b")
    assert reasons(project) == {"cc[src/b.c]": "never succeeded"}


async def test_hash_mode_survives_touch_but_not_an_edit(project: Path) -> None:
    toml = COPY.replace('inputs = ["src.txt"]', 'inputs = ["src.txt"]\ncheck = "hash"')
    await build(project, toml)
    bump(project / "src.txt")  # same content, new mtime
    assert reasons(project) == {}
    assert await build(project) == dict.fromkeys(["gen", "use", "all"], S.UP_TO_DATE)
    bump(project / "src.txt", "other\n")
    assert reasons(project)["gen"] == "input changed: src.txt"


async def test_mtime_mode_reruns_on_touch(project: Path) -> None:
    await build(project, COPY)
    bump(project / "src.txt")
    assert reasons(project)["gen"] == "input changed: src.txt"


async def test_always_and_tasks_without_files_always_run(project: Path) -> None:
    toml = """
    [tasks.stamp]
    cmd = ["fake", "write=stamp"]
    outputs = ["stamp"]
    always = true
    [tasks.lint]
    cmd = ["fake"]
    """
    await build(project, toml)
    assert reasons(project) == {"stamp": "always", "lint": "no inputs or outputs declared"}
    assert await build(project) == {"stamp": S.SUCCEEDED, "lint": S.SUCCEEDED}


async def test_force_runs_everything_and_still_records(project: Path) -> None:
    await build(project, COPY)
    assert reasons(project, force=True) == {
        "gen": "forced",
        "use": "forced",
        "all": "dependency will run: use",
    }
    assert set((await build(project, force=True)).values()) == {S.SUCCEEDED}
    assert set((await build(project)).values()) == {S.UP_TO_DATE}


async def test_a_failed_task_is_never_up_to_date(project: Path) -> None:
    await build(project, COPY)
    graph_of(project, COPY.replace('"write=use.txt"]', '"write=use.txt", "fail"]'))
    states = await build(project)
    assert states["use"] is S.FAILED
    graph_of(project, COPY)  # fixed back to the command that succeeded before
    assert reasons(project)["use"] == "failed last time"
    assert (await build(project))["use"] is S.SUCCEEDED


async def test_a_task_killed_mid_run_is_interrupted_next_time(project: Path) -> None:
    """What a kill -9 leaves: a journal saying `use` started, and no committed end."""
    await build(project, COPY)
    directory = store_dir(project / "build.toml")
    (directory / "journal").write_text("S\tgen\nD\tgen\nC\nS\tuse\n")
    store = Store.open(directory)
    store.lock()
    assert store.recover_journal() == ["use"]
    store.close()
    assert reasons(project) == {"use": "interrupted last time", "all": "dependency will run: use"}


async def test_durations_become_weights(project: Path) -> None:
    await build(project, COPY)
    graph = graph_of(project)
    session = open_session(graph, argv=[], typed_targets=())
    try:
        weights = session.weights
        assert set(weights) == {"gen", "use", "all"}
        assert all(w >= 0 for w in weights.values())
        assert set(session.store.durations()) == {"gen", "use"}
    finally:
        session.close()


async def test_a_commit_records_the_tasks_still_running(project: Path) -> None:
    """A task's start is not written on its own (its end usually replaces it before the next
    commit), but every commit while it runs records it running: a kill -9 then leaves a row that
    the next start marks interrupted."""
    graph = graph_of(project, COPY)
    session = open_session(graph, argv=[], typed_targets=())
    runner = WritingRunner()
    runner.gate("use")
    engine = Engine(graph, runner, jobs=2, run_id=session.run_id, checker=session.checker)
    session.attach(engine)
    try:
        run = asyncio.create_task(engine.run())
        await until(lambda: "use" in runner.running)
        session.flush()  # what the half-second timer does
        reader = Store.open_existing(session.directory)
        assert reader is not None
        try:
            rows = {r.task: r.state for r in reader.results(session.run_id)}
            assert rows == {"gen": "succeeded", "use": "running"}
            runner.release("use")
            await run
            session.flush()
            rows = {r.task: r.state for r in reader.results(session.run_id)}
            assert rows == {"gen": "succeeded", "use": "succeeded", "all": "succeeded"}
        finally:
            reader.close()
    finally:
        session.close()


async def test_the_journal_notes_every_start_that_a_kill_could_turn_into_a_lie(
    project: Path,
) -> None:
    """A start is journaled when a success is on record for the task (a kill -9 mid-run must
    void it), even once the task always runs; a task that always ran and never had one has
    nothing a kill could void."""
    await build(project, COPY)  # gen and use succeed with fingerprints
    toml = COPY.replace('outputs = ["gen.txt"]', 'outputs = ["gen.txt"]\nalways = true')
    toml += '[tasks.plain]\ncmd = ["fake"]\n'
    graph = graph_of(project, toml)
    session = open_session(graph, argv=[], typed_targets=())
    runner = WritingRunner()
    runner.gate("gen", "plain")
    engine = Engine(graph, runner, jobs=2, run_id=session.run_id, checker=session.checker)
    session.attach(engine)
    journal = session.directory / "journal"
    try:
        run = asyncio.create_task(engine.run())
        await until(lambda: {"gen", "plain"} <= runner.running)
        assert journal.read_text().splitlines() == ["S\tgen"]
        runner.release("gen", "plain")
        await run
    finally:
        session.close()
