"""The demo of the README's first set-up command, run headless as a new user would see it.

It must show a failure with its traceback, recover when the failure is re-run, and then be up to
date, so that what the README promises about it stays true.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from conftest import run_cli

REPO = Path(__file__).parent.parent


def test_the_demo_fails_once_recovers_on_rerun_and_is_then_up_to_date(tmp_path: Path) -> None:
    shutil.copy(REPO / "build.toml.example", tmp_path / "build.toml")
    shutil.copytree(REPO / "demo", tmp_path / "demo", ignore=shutil.ignore_patterns("__pycache__"))

    first = run_cli(["--no-tui"], tmp_path, timeout=120)
    assert first.returncode == 1, first.stdout + first.stderr
    out = first.stdout
    assert "16 tasks: 13 succeeded, 1 failed, 2 blocked" in out
    assert "blocked (not run): package, all" in out
    # the cause is at the bottom, traceback included
    cause = out[out.rindex("✗ integration:") :]
    assert "Traceback (most recent call last):" in cause
    assert 'demo/checks.py", line' in cause and "AssertionError: checksum mismatch" in cause
    # the firehose task's 20,000 lines arrived whole and in order
    samples = re.findall(r"^benchmark sample +(\d+):", out, re.M)
    assert [int(n) for n in samples] == list(range(1, 20_001))

    again = run_cli(["--no-tui", "--failed"], tmp_path, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "all 3 rounds passed" in again.stdout
    assert re.search(r"\d+ tasks: .*failed", again.stdout) is None

    third = run_cli(["--no-tui"], tmp_path)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "Nothing to do: all 16 tasks up to date" in third.stdout

    (tmp_path / "demo/src/lexer.c").touch()
    dry = run_cli(["-n"], tmp_path)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would run 6 of 16 tasks:" in dry.stdout and "\n9 up to date\n" in dry.stdout
    assert "1 with nothing to run of their own: all" in dry.stdout  # 6 + 9 + 1 = 16
    planned = re.findall(r"^  (\S+) +(.+)$", dry.stdout, re.M)
    assert dict(planned) == {
        "compile[demo/src/lexer.c]": "input changed: demo/src/lexer.c",
        "link": "dependency will run: compile[demo/src/lexer.c]",
        "lint": "input changed: demo/src/lexer.c",
        "integration": "dependency will run: link",
        "benchmark": "dependency will run: link",
        "package": "dependency will run: link",
    }
