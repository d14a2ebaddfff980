"""End to end: the installed `tuibuild` in a real terminal (tmux), driven as a user would.

A task fails because a file is missing; the test reads the failure on screen, creates the file,
presses `r` on the failed task, sees the build turn green, quits with `q` and checks what the
terminal keeps: the console summary and the exit status.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
TUIBUILD = BIN / "tuibuild"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

BUILD = """
[tasks.check]
description = "Fails until fixed.txt exists"
cmd = ["{python}", "-c", '''import os, sys
print("checking for fixed.txt")
sys.exit(0 if os.path.exists("fixed.txt") else "error: fixed.txt is missing")''']

[tasks.after]
cmd = ["{python}", "-c", "print('after ran')"]
deps = ["check"]
"""


class Tmux:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", *args], check=True, capture_output=True, text=True, timeout=10
        ).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-J", "-t", self.name)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.name, *keys)

    def wait_for(self, predicate: Callable[[str], bool], what: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"never saw {what}; the screen was:\n{screen}")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    if not TUIBUILD.exists():
        pytest.skip("tuibuild is not installed in this environment (pip install -e .)")
    (tmp_path / "build.toml").write_text(BUILD.format(python=sys.executable))
    name = f"tuibuild-{uuid.uuid4().hex[:8]}"
    # After the app: the run is in the history (the store session was closed as headless does).
    command = f"cd {tmp_path} && {TUIBUILD}; echo EXIT=$?; {TUIBUILD} history; sleep 60"
    subprocess.run(
        ["tmux", "new-session", "-d", "-x", "120", "-y", "40", "-s", name, command],
        check=True,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "TERM": "xterm-256color", "HOME": str(tmp_path)},
    )
    session = Tmux(name)
    try:
        yield session
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def test_fix_rerun_and_quit(tmux: Tmux, tmp_path: Path) -> None:
    expected = (
        "✗ failed",  # the header
        "exited with status 1",  # the failed row says why
        "dependency failed: check",  # and what it blocked
        "error: fixed.txt is missing",  # the output pane shows the error
    )
    tmux.wait_for(lambda s: all(e in s for e in expected), "the failure explained")

    (tmp_path / "fixed.txt").write_text("fixed\n")
    tmux.keys("g")  # the first row: `after` (the root), then its dependency `check`
    tmux.keys("j")
    tmux.wait_for(lambda s: "checking for fixed.txt" in s, "the failed task's output")
    tmux.keys("r")
    screen = tmux.wait_for(lambda s: "✓ succeeded" in s, "the build turn green")
    assert "✓ after" in screen and "✓ check" in screen

    tmux.keys("q")
    screen = tmux.wait_for(lambda s: "COMMAND" in s, "the history after the app closed")
    assert "═══ tuibuild: succeeded" in screen
    assert "2 tasks: 2 succeeded" in screen
    assert "EXIT=0" in screen
    # One run, recorded as the user left it: succeeded after the re-run.
    history = screen.split("COMMAND", 1)[1]
    assert "succeeded  2 succeeded  tuibuild" in history, history


@pytest.mark.parametrize("how", ["q", "SIGTERM", "SIGINT"])
def test_leaving_while_running_kills_the_work(tmp_path: Path, how: str) -> None:
    """`q` (after a confirmation), SIGTERM or SIGINT (`kill -INT`: the terminal is raw, so a
    Ctrl-C key is the app's): the task is killed, the summary says so."""
    if not TUIBUILD.exists():
        pytest.skip("tuibuild is not installed in this environment (pip install -e .)")
    marker = uuid.uuid4().hex
    script = f"import time; print('sleeping', flush=True); time.sleep(600)  # {marker}"
    build = f'[tasks.slow]\ncmd = ["{sys.executable}", "-c", "{script}"]\n'
    (tmp_path / "build.toml").write_text(build)
    name = f"tuibuild-{uuid.uuid4().hex[:8]}"
    command = f"cd {tmp_path} && {TUIBUILD}; echo EXIT=$?; {TUIBUILD} history; sleep 60"
    subprocess.run(
        ["tmux", "new-session", "-d", "-x", "100", "-y", "30", "-s", name, command],
        check=True,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "TERM": "xterm-256color", "HOME": str(tmp_path)},
    )
    session = Tmux(name)

    def task_processes() -> str:
        found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
        return found.stdout.strip()

    try:
        session.wait_for(lambda s: "sleeping" in s and "▶ slow" in s, "the running task")
        if how == "q":
            session.keys("q")
            session.wait_for(lambda s: "Quit and cancel it?" in s, "the confirmation")
            session.keys("y")
            expected_status = "EXIT=1"
        else:
            tuibuild = subprocess.run(
                ["pgrep", "-f", f"^{sys.executable}.*{TUIBUILD}|^{TUIBUILD}"],
                capture_output=True,
                text=True,
            ).stdout.split()
            pids = [p for p in tuibuild if Path(f"/proc/{p}/cwd").resolve() == tmp_path.resolve()]
            assert pids, "the tuibuild process was not found"
            subprocess.run(["kill", f"-{how[3:]}", *pids], check=True)
            expected_status = "EXIT=130"  # interrupted
        screen = session.wait_for(lambda s: "COMMAND" in s, "the history after the app closed")
        assert "cancelled: slow" in screen
        assert expected_status in screen
        outcome = "cancelled" if how == "q" else "interrupted"
        assert f"{outcome}  1 cancelled" in screen.split("COMMAND", 1)[1]
        deadline = time.monotonic() + 10
        while task_processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not task_processes(), "the task's process survived the dashboard"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
