"""End to end with the installed `tuibuild`: no-op runs, dry runs, history, logs, --failed, and
what kills, a second build and a corrupt store leave behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from conftest import BIN, run_cli

pytest.importorskip("tui_build.runners", reason="needs the local runners")

PY = sys.executable
CHECK = "import sys; t = open('gen.txt').read(); print('checked', t.strip()); sys.exit('bad' in t)"

BUILD = f"""
[tasks.gen]
cmd = ["{PY}", "-c", "import shutil; print('generating'); shutil.copy('src.txt', 'gen.txt')"]
inputs = ["src.txt"]
outputs = ["gen.txt"]

[tasks.check]
cmd = ["{PY}", "-c", "{CHECK}"]
inputs = ["gen.txt"]
outputs = ["gen.txt"]
deps = ["gen"]

[tasks.other]
cmd = ["{PY}", "-c", "open('other.txt', 'w').write('x')"]
outputs = ["other.txt"]

[tasks.all]
deps = ["check", "other"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "build.toml").write_text(textwrap.dedent(BUILD))
    (tmp_path / "src.txt").write_text("good\n")
    return tmp_path


def edit(path: Path, text: str) -> None:
    """Rewrite a file with an mtime surely different from before (coarse clocks)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def test_a_second_run_does_nothing_fast_and_says_so(project: Path) -> None:
    first = run_cli([], project)
    assert first.returncode == 0, first.stderr
    assert (project / ".tuibuild" / "noop.cache").exists()
    second = run_cli([], project)
    assert second.returncode == 0
    assert second.stdout.strip() == "Nothing to do: all 4 tasks up to date"
    # The full path agrees with the fast one.
    slow = run_cli([], project, env={"TUIBUILD_NO_FASTPATH": "1"})
    assert "Nothing to do: all 4 tasks up to date" in slow.stdout
    history = run_cli(["history"], project)
    assert history.returncode == 0
    assert len(history.stdout.strip().splitlines()) == 1 + 3
    assert "4 up-to-date" in history.stdout


def test_a_change_runs_exactly_what_it_affects(project: Path) -> None:
    assert run_cli([], project).returncode == 0
    edit(project / "src.txt", "better\n")
    dry = run_cli(["-n"], project)
    assert dry.returncode == 0
    assert "gen    input changed: src.txt" in dry.stdout
    assert "check  dependency will run: gen" in dry.stdout
    assert "other" not in dry.stdout
    assert not (project / "gen.txt").read_text().startswith("better")  # -n ran nothing
    run = run_cli([], project)
    assert run.returncode == 0
    assert "3 succeeded, 1 up-to-date" in run.stdout  # gen, check and the aggregate all
    assert (project / "gen.txt").read_text() == "better\n"
    edit(project / "build.toml", (project / "build.toml").read_text() + "\n# a comment\n")
    assert "Nothing to do" in run_cli([], project).stdout  # the full path, same answer


def test_history_of_a_run_and_a_tasks_log(project: Path) -> None:
    assert run_cli([], project).returncode == 0
    run = run_cli(["history", "last"], project)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("run ") and "succeeded" in lines[0]
    assert any(line.split()[:2] == ["gen", "succeeded"] for line in lines)
    log = run_cli(["log", "gen"], project)
    assert log.returncode == 0
    assert log.stdout == "generating\n"
    assert "gen" in log.stderr  # the header goes to stderr: stdout is the log itself
    run_id = run.stdout.split()[1].rstrip(":")
    assert run_cli(["log", "check", "--run", run_id], project).stdout == "checked good\n"


def test_a_task_that_printed_nothing_has_an_empty_log(project: Path) -> None:
    assert run_cli([], project).returncode == 0
    log = run_cli(["log", "other"], project)  # it never created its log file
    assert log.returncode == 0, log.stderr
    assert log.stdout == ""
    assert "other" in log.stderr


def test_history_and_log_errors_are_one_line(project: Path) -> None:
    none = run_cli(["history"], project)
    assert none.returncode == 2 and "no runs recorded yet" in none.stderr
    assert run_cli([], project).returncode == 0
    for args, message in [
        (["log", "gne"], "did you mean 'gen'"),
        (["history", "nope"], "no run 'nope'"),
        (["log", "gen", "--run", "nope"], "no run 'nope'"),
    ]:
        result = run_cli(args, project)
        assert result.returncode == 2, args
        assert message in result.stderr and "Traceback" not in result.stderr


def test_failed_reruns_the_failures_and_their_dependents(project: Path) -> None:
    edit(project / "src.txt", "bad\n")
    first = run_cli(["-k"], project)
    assert first.returncode == 1
    # Fixed: --failed re-runs check (and the aggregate above it); other is left alone.
    edit(project / "src.txt", "good again\n")
    dry = run_cli(["--failed", "-n"], project)
    assert "check" in dry.stdout and "other" not in dry.stdout
    again = run_cli(["--failed"], project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "other" not in again.stdout
    assert (project / "gen.txt").read_text() == "good again\n"
    nothing = run_cli(["--failed"], project)
    assert nothing.returncode == 0 and "nothing failed" in nothing.stdout


SLOW = f"""
[tasks.slow]
cmd = ["{PY}", "-c", "{{SLEEP}}"]
inputs = ["build.toml"]
outputs = ["slow.out"]
"""
SLEEP = (
    "import os, time; open('slow.out', 'w').write('partial'); print('started', flush=True);"
    " time.sleep(float(os.environ.get('SLOW', '0')))"
)


def start_slow_build(root: Path, *args: str) -> subprocess.Popen[str]:
    """`tuibuild` running a task that takes a minute; returns once the task has started."""
    process = subprocess.Popen(
        [str(BIN / "tuibuild"), "--no-tui", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, SLOW="60"),
    )
    logs = root / ".tuibuild" / "logs"
    deadline = time.monotonic() + 30
    while not any(p.stat().st_size for p in logs.glob("*/slow.log")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the slow task never started"
        time.sleep(0.05)
    return process


def write_slow(root: Path) -> None:
    (root / "build.toml").write_text(textwrap.dedent(SLOW).replace("{SLEEP}", SLEEP))


def test_kill_9_mid_run_leaves_a_store_that_knows(tmp_path: Path) -> None:
    write_slow(tmp_path)
    assert run_cli([], tmp_path).returncode == 0  # slow succeeded once (SLOW unset: at once)
    for log in (tmp_path / ".tuibuild" / "logs").glob("*/slow.log"):
        log.unlink()
    process = start_slow_build(tmp_path, "-B")  # forced: runs again, for a minute this time
    tasks = psutil.Process(process.pid).children(recursive=True)
    try:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=10)
    finally:
        for task in tasks:  # orphaned by the kill: not ours to leave running
            with contextlib.suppress(psutil.Error):
                task.kill()
    history = run_cli(["history"], tmp_path)
    assert history.returncode == 0, history.stderr
    assert "interrupted" in history.stdout.splitlines()[1]
    # Its output exists and nothing it reads changed, but it was cut short: not up to date.
    dry = run_cli(["-n"], tmp_path)
    assert "slow  interrupted last time" in dry.stdout
    again = run_cli([], tmp_path)
    assert again.returncode == 0 and "1 succeeded" in again.stdout
    assert "Nothing to do" in run_cli([], tmp_path).stdout


def test_a_second_build_in_the_same_folder_is_refused(tmp_path: Path) -> None:
    write_slow(tmp_path)
    process = start_slow_build(tmp_path)
    try:
        second = run_cli([], tmp_path)
        assert second.returncode == 2
        assert f"another tuibuild (pid {process.pid}) is running" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        process.send_signal(signal.SIGTERM)  # a clean stop: it cancels its task and records
        process.communicate(timeout=30)
    assert "slow" in run_cli(["history", "last"], tmp_path).stdout


def test_a_corrupt_store_is_moved_aside_and_the_build_proceeds(project: Path) -> None:
    assert run_cli([], project).returncode == 0
    (project / ".tuibuild" / "state.db").write_bytes(b"\x00garbage" * 500)
    for name in ("state.db-wal", "state.db-shm"):
        (project / ".tuibuild" / name).unlink(missing_ok=True)
    result = run_cli([], project)
    assert result.returncode == 0, result.stderr
    assert "moved it to state.db.corrupt-" in result.stderr
    assert "4 succeeded" in result.stdout  # nothing was known any more: everything ran
    assert list((project / ".tuibuild").glob("state.db.corrupt-*"))
    assert run_cli(["history"], project).returncode == 0


def test_the_fast_path_steps_aside_for_any_change(project: Path) -> None:
    assert run_cli([], project).returncode == 0
    (project / "other.txt").unlink()  # an output gone: its folder's mtime moved
    assert "2 succeeded, 2 up-to-date" in run_cli([], project).stdout  # other, and all above it
    assert "Nothing to do" in run_cli([], project).stdout
    edit(project / "src.txt", "changed\n")  # an input changed
    assert "gen" in run_cli([], project).stdout
    assert "Nothing to do" in run_cli([], project).stdout
    assert "Nothing to do" not in run_cli(["-B"], project).stdout  # options it does not know
