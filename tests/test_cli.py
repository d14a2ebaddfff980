"""The installed `tuibuild` command end to end, as a user (or CI) runs it: output and exit codes."""

from __future__ import annotations

import json
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


def write(root: Path, toml: str) -> Path:
    path = root / "build.toml"
    path.write_text(textwrap.dedent(toml))
    return path


GOOD = """
[build]
default = ["all"]
[tasks.hello]
cmd = ["python3", "-c", "print('hello from a task')"]
group = "greet"
description = "Say hello"
[tasks.shout]
shell = true
cmd = "echo LOUD >&2; echo quiet"
[tasks.all]
deps = ["hello", "shout"]
"""


def test_success_exits_0_with_blocks_and_summary(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    result = run_cli(["--no-tui"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓ hello" in result.stdout
    assert "hello from a task" in result.stdout
    assert "LOUD" in result.stdout and "quiet" in result.stdout
    assert "3 tasks: 3 succeeded" in result.stdout
    logs = list((tmp_path / ".tuibuild" / "logs").glob("*/hello.log"))
    assert logs and logs[0].read_text() == "hello from a task\n"


def test_not_a_terminal_means_headless(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    result = run_cli([], tmp_path)  # stdout is a pipe: no dashboard, no escape sequences
    assert result.returncode == 0
    assert "\x1b[" not in result.stdout
    assert "═══ tuibuild: succeeded" in result.stdout


def test_failure_exits_1_and_ends_with_the_cause(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        [tasks.bad]
        cmd = ["python3", "-c", "import sys; print('src/x.c:3:1: error: boom'); sys.exit(3)"]
        [tasks.after]
        cmd = ["true"]
        deps = ["bad"]
        """,
    )
    result = run_cli(["--no-tui"], tmp_path)
    assert result.returncode == 1
    tail = result.stdout.strip().splitlines()[-4:]
    assert any("✗ bad: exited with status 3" in line for line in tail)
    assert tail[-1].endswith("src/x.c:3:1: error: boom")
    assert "blocked (not run): after" in result.stdout


def test_command_not_found(tmp_path: Path) -> None:
    write(tmp_path, '[tasks.x]\ncmd = ["no-such-program-xyz", "arg"]\n')
    result = run_cli(["--no-tui"], tmp_path)
    assert result.returncode == 1
    assert "command not found: no-such-program-xyz" in result.stdout


def test_build_file_errors_exit_2_with_file_line_and_task(tmp_path: Path) -> None:
    write(tmp_path, '[tasks.a]\ncmd = ["true"]\n\n[tasks.b]\ncmd = ["true"]\ndeps = ["aa"]\n')
    result = run_cli(["--no-tui"], tmp_path)
    assert result.returncode == 2
    assert "build.toml:4" in result.stderr and "'b'" in result.stderr
    assert "did you mean 'a'" in result.stderr
    assert "Traceback" not in result.stderr


def test_toml_syntax_error_exit_2(tmp_path: Path) -> None:
    write(tmp_path, '[tasks.a]\ncmd = ["true"\n')
    result = run_cli([], tmp_path)
    assert result.returncode == 2
    assert "build.toml:2" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_build_file_without_tasks_is_an_error_not_a_success(tmp_path: Path) -> None:
    write(tmp_path, "[build]\njobs = 2\n")
    result = run_cli([], tmp_path)
    assert result.returncode == 2
    assert "build.toml declares no tasks" in result.stderr and "Traceback" not in result.stderr


def test_unknown_target_did_you_mean_and_missing_file(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    result = run_cli(["helo"], tmp_path)
    assert result.returncode == 2
    assert "did you mean 'hello'" in result.stderr
    missing = run_cli(["-f", "nope.toml"], tmp_path)
    assert missing.returncode == 2
    assert "nope.toml" in missing.stderr and "Traceback" not in missing.stderr
    bad_flag = run_cli(["--jobs", "zero"], tmp_path)
    assert bad_flag.returncode == 2


def test_directory_and_file_options(tmp_path: Path) -> None:
    sub = tmp_path / "proj"
    sub.mkdir()
    (sub / "other.toml").write_text('[tasks.x]\ncmd = ["python3", "-c", "print(42)"]\n')
    result = run_cli(["-C", str(sub), "-f", "other.toml", "--no-tui"], tmp_path)
    assert result.returncode == 0
    assert "42" in result.stdout


def test_list_and_list_json(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    result = run_cli(["list"], tmp_path)
    assert result.returncode == 0
    assert "hello" in result.stdout and "Say hello" in result.stdout and "[greet]" in result.stdout
    doc = json.loads(run_cli(["list", "--json"], tmp_path).stdout)
    assert {t["name"] for t in doc} == {"hello", "shout", "all"}
    assert next(t for t in doc if t["name"] == "all")["deps"] == ["hello", "shout"]


def test_stream_output_prefixes_lines(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    result = run_cli(["--no-tui", "--output", "stream"], tmp_path)
    assert "[hello] hello from a task" in result.stdout


def test_python_callable_with_traceback(tmp_path: Path) -> None:
    (tmp_path / "tools.py").write_text(
        "def ok(n):\n    print('working', n)\n    return n * 2\n\n"
        "def bad():\n    raise ValueError('bad input')\n"
    )
    write(
        tmp_path,
        '[tasks.ok]\ncall = "tools:ok"\nargs = [21]\n[tasks.bad]\ncall = "tools:bad"\n',
    )
    result = run_cli(["--no-tui", "-k"], tmp_path)
    assert result.returncode == 1
    assert "working 21" in result.stdout
    assert "✗ bad: ValueError: bad input" in result.stdout
    assert "tools.py" in result.stdout and "line 6" in result.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_cancels_everything_exits_130_no_orphans(tmp_path: Path, sig: int) -> None:
    write(
        tmp_path,
        """
        [tasks.tree]
        shell = true
        cmd = "setsid sleep 300 & sleep 300 & echo started; wait"
        [tasks.other]
        cmd = ["sleep", "300"]
        """,
    )
    exe = BIN / "tuibuild"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "tui_build"]
    proc = subprocess.Popen(
        [*command, "--no-tui", "--output", "stream"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, NO_COLOR="1"),
    )
    deadline = time.monotonic() + 30
    me = psutil.Process(proc.pid)
    sleepers: list[psutil.Process] = []
    while time.monotonic() < deadline:
        sleepers = [p for p in me.children(recursive=True) if p.name() == "sleep"]
        if len(sleepers) >= 3:
            break
        time.sleep(0.05)
    assert len(sleepers) >= 3, "tasks did not start"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "interrupted" in out
    _gone, alive = psutil.wait_procs(sleepers, timeout=5)
    assert not alive, f"orphans left: {alive}"


def test_output_folders_are_created_before_a_task_runs(tmp_path: Path) -> None:
    write(
        tmp_path,
        '[tasks.x]\nshell = true\ncmd = "echo hi > out/deep/x.txt"\noutputs = ["out/deep/x.txt"]\n',
    )
    result = run_cli(["--no-tui"], tmp_path)
    assert result.returncode == 0, result.stdout
    assert (tmp_path / "out" / "deep" / "x.txt").read_text() == "hi\n"
