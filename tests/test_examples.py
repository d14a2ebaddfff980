"""The examples run green through the installed command, as a user (or CI) would run them.

Each example is copied to a temporary folder first, so caches and build outputs never land in
the repository. PATH starts with this interpreter's folder, so `python3 -m ruff` and friends in
the examples' build files find the tools of the test environment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import junitparser
import pytest
from conftest import BIN, run_cli

EXAMPLES = Path(__file__).parent.parent / "examples"
ENV = {
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    "GITHUB_ACTIONS": "",
    "GITLAB_CI": "",
}


def copy_example(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(
        EXAMPLES / name,
        target,
        ignore=shutil.ignore_patterns("build", "dist", ".tuibuild", "*cache*"),
    )
    return target


def test_every_example_has_a_build_file_and_a_readme() -> None:
    found = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    assert found == ["c-program", "docs-matrix", "python-project"]
    for name in found:
        assert (EXAMPLES / name / "build.toml").is_file()
        assert len((EXAMPLES / name / "README.md").read_text().splitlines()) >= 3


def test_c_program_builds_tests_and_runs(tmp_path: Path) -> None:
    root = copy_example("c-program", tmp_path)
    result = run_cli(["--no-tui", "--junit", "junit.xml"], root, timeout=120, env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
    assert re.search(r"^median 13$", result.stdout, re.M)  # the smoke run on data/sample.txt
    app = subprocess.run(
        [str(root / "build" / "numstat")], input="1 2 3 4\n", capture_output=True, text=True
    )
    assert "mean   2.5" in app.stdout
    cases = {
        case.name
        for suite in junitparser.JUnitXml.fromfile(str(root / "junit.xml"))
        for case in suite
    }
    assert {"compile[src/stats.c]", "compile[app/main.c]", "link", "test", "smoke"} <= cases
    again = run_cli(["--no-tui"], root, env=ENV)
    assert again.returncode == 0 and "succeeded in" not in again.stdout.split("═══")[0]


def test_c_program_compile_error_is_annotated_on_its_line_in_github(tmp_path: Path) -> None:
    root = copy_example("c-program", tmp_path)
    source = root / "src" / "stats.c"
    lines = source.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if "double mean = sum" in line)
    lines[number - 1] = lines[number - 1].replace(";", "")
    source.write_text("\n".join(lines) + "\n")
    env = {**ENV, "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(tmp_path)}
    result = run_cli(["--no-tui", "-k"], root, timeout=120, env=env)
    assert result.returncode == 1
    out = result.stdout
    assert "::error title=compile[src/stats.c] failed::exited with status 1" in out
    assert re.search(
        rf"^::error file=c-program/src/stats.c,line={number + 1},col=\d+,"
        r"title=compile\[src/stats.c\]::expected ‘,’ or ‘;’ before ‘double’",
        out,
        re.M,
    ), out
    # The failed compile is not in a collapsed group; the link it blocked did not run.
    assert "::group::compile[src/stats.c]" not in out
    assert re.search(r"^── ✗ compile\[src/stats.c\] ── failed", out, re.M)
    assert "blocked (not run): " in out


def test_python_project_lints_type_checks_tests_and_builds_a_wheel(tmp_path: Path) -> None:
    pytest.importorskip(
        "hatchling", reason="the wheel task builds with the environment's hatchling"
    )
    root = copy_example("python-project", tmp_path)
    result = run_cli(["--no-tui"], root, timeout=300, env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    for task in ("lint", "format", "typecheck", "test", "wheel"):
        assert re.search(rf"^── ✓ {task} ── succeeded", result.stdout, re.M), task
    assert (root / "dist" / "slugkit-1.0.0-py3-none-any.whl").is_file()
    assert "8 passed" in result.stdout


def test_python_project_failures_are_reported_per_tool(tmp_path: Path) -> None:
    root = copy_example("python-project", tmp_path)
    module = root / "src" / "slugkit" / "__init__.py"
    module.write_text(module.read_text().replace('or "untitled"', "or None"))
    result = run_cli(
        ["--no-tui", "-k", "typecheck", "test", "--ci", "github"], root, timeout=300, env=ENV
    )
    assert result.returncode == 1
    assert re.search(
        r"^::error file=src/slugkit/__init__.py,line=\d+,title=typecheck", result.stdout, re.M
    ), result.stdout
    assert "::error title=test failed::" in result.stdout


def test_docs_matrix_renders_every_edition_and_language(tmp_path: Path) -> None:
    root = copy_example("docs-matrix", tmp_path)
    result = run_cli(["--no-tui", "--events", "events.jsonl"], root, timeout=120, env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    for lang in ("en", "fr", "de"):
        assert (root / "build" / "web" / lang / "02-usage.html").is_file()
        assert (root / "build" / "print" / lang / "guide.txt").is_file()
    assert "Utiliser numstat" in (root / "build" / "print" / "fr" / "guide.txt").read_text()
    index = (root / "build" / "index.html").read_text()
    assert index.count("<li>") == 6
    # A missing translation stops the rendering and says which file.
    (root / "content" / "de" / "02-usage.md").unlink()
    broken = run_cli(["--no-tui"], root, env=ENV)
    assert broken.returncode == 1
    assert "content/de/02-usage.md:1: error: chapter missing" in broken.stdout


def test_the_events_file_alone_rebuilds_the_timeline(tmp_path: Path) -> None:
    root = copy_example("c-program", tmp_path)
    result = run_cli(["--no-tui", "--events", "events.jsonl"], root, timeout=120, env=ENV)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]
    assert {e["v"] for e in events} == {1}
    assert events[0]["type"] == "BuildStarted" and events[-1]["type"] == "BuildFinished"
    tasks = {info["name"]: info for info in events[0]["tasks"]}
    starts: dict[str, float] = {}
    spans: dict[str, tuple[float, float, float]] = {}
    states: dict[str, str] = {}
    for event in events:
        if event["type"] == "TaskStateChanged":
            assert event["previous"] == states.get(event["task"], "pending")
            states[event["task"]] = event["state"]
            if event["state"] == "running":
                starts[event["task"]] = event["time"]
            elif event["state"] == "succeeded" and event["task"] in starts:
                spans[event["task"]] = (starts.pop(event["task"]), event["time"], event["duration"])
        elif event["type"] in ("TaskOutput", "ResourceSample"):
            assert event["task"] in starts  # output only while the task runs
    assert set(states) == set(tasks) and set(states.values()) == {"succeeded"}
    ran = {name for name, info in tasks.items() if info["kind"] != "none"}
    assert set(spans) == ran
    for name, (start, end, duration) in spans.items():
        assert start <= end and abs((end - start) - duration) < 0.5
        for dep in tasks[name]["deps"]:  # every dependency ended before the task started
            assert spans[dep][1] <= start
    assert events[-1]["counts"] == {"succeeded": len(tasks)}
