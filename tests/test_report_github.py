"""GitHub Actions output, driven by real engine events: groups, annotations, injection, limits."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from conftest import FakeRunner, make_engine, make_graph, run_cli

from tui_build.cli import detect_ci
from tui_build.report.annotations import parse_annotations
from tui_build.report.github import GitHubReporter, escape_data, escape_property

DATA = Path(__file__).parent / "data"


def toml_list(lines: list[str]) -> str:
    return "[" + ", ".join(json.dumps(line) for line in lines) + "]"


def fake_cmd(*lines: str, fail: bool = False) -> str:
    return toml_list(["fake", *(f"out={line}" for line in lines), *(["fail"] if fail else [])])


async def run_github(
    tmp_path: Path, toml: str, environ: dict[str, str] | None = None, **options: object
) -> str:
    project = tmp_path / "repo" / "proj"
    project.mkdir(parents=True)
    out = io.StringIO()
    engine, _ = make_engine(
        make_graph(project, toml), FakeRunner(), tmp_path, jobs=2, keep_going=True
    )
    tokens = iter(f"token{i}" for i in range(1000))
    reporter = GitHubReporter(
        out,
        environ={"GITHUB_WORKSPACE": str(tmp_path / "repo")} if environ is None else environ,
        token=lambda: next(tokens),
        **options,  # type: ignore[arg-type]
    )
    engine.subscribe(reporter)
    await engine.run()
    reporter.summary(engine.summary)
    return out.getvalue()


def runner_view(log: str) -> tuple[list[str], dict[int, int]]:
    """What the Actions runner does with a log: the workflow commands it obeys (honouring
    `::stop-commands::`) and, for each line, how many groups are open around it."""
    commands: list[str] = []
    depth: dict[int, int] = {}
    open_groups = 0
    stopped: str | None = None
    for number, line in enumerate(log.splitlines()):
        depth[number] = open_groups
        text = line.lstrip()
        if stopped is not None:
            if text == f"::{stopped}::":
                stopped = None
            continue
        match = re.match(r"^::([a-z-]+)(?: [^:]*)?::(.*)$", text)
        if not match:
            continue
        commands.append(text)
        if match[1] == "stop-commands":
            stopped = match[2]
        elif match[1] == "group":
            open_groups += 1
        elif match[1] == "endgroup":
            open_groups = max(0, open_groups - 1)
    return commands, depth


BUILD = f"""
[tasks.ok]
cmd = {fake_cmd("all good")}
[tasks.broken]
cmd = {
    fake_cmd(
        "src/calc.c:6:17: error: expected ';' before '}}' token",
        "src/calc.c:5:9: warning: unused variable 'unused'",
        fail=True,
    )
}
[tasks.after]
cmd = ["fake"]
deps = ["broken"]
"""


async def test_each_finished_task_is_a_group_but_a_failure_is_never_collapsed(
    tmp_path: Path,
) -> None:
    log = await run_github(tmp_path, BUILD)
    lines = log.splitlines()
    commands, depth = runner_view(log)
    assert any(c.startswith("::group::ok (succeeded, ") for c in commands)
    ok_output = lines.index("all good")
    assert depth[ok_output] == 1
    # The failed task's output and every line of the summary are outside any group.
    failed_output = lines.index("src/calc.c:6:17: error: expected ';' before '}' token")
    assert depth[failed_output] == 0
    summary = next(i for i, line in enumerate(lines) if line.startswith("═══ tuibuild: failed"))
    assert all(depth[i] == 0 for i in range(summary, len(lines)))
    assert lines[-1].endswith("│ src/calc.c:5:9: warning: unused variable 'unused'")
    assert commands.count("::endgroup::") == sum(c.startswith("::group::") for c in commands)


async def test_failed_task_and_its_diagnostics_become_annotations(tmp_path: Path) -> None:
    log = await run_github(tmp_path, BUILD)
    commands, _ = runner_view(log)
    assert "::error title=broken failed::exited with status 1" in commands
    assert (
        "::error file=proj/src/calc.c,line=6,col=17,title=broken::expected ';' before '}' token"
        in commands
    )
    assert (
        "::warning file=proj/src/calc.c,line=5,col=9,title=broken::unused variable 'unused'"
        in commands
    )
    # Only the failed task's output is annotated, and no notice: nothing was left out.
    assert not any(c.startswith("::notice") for c in commands)


async def test_without_github_workspace_paths_are_relative_to_the_build_file(
    tmp_path: Path,
) -> None:
    log = await run_github(tmp_path, BUILD, environ={})
    assert "::error file=src/calc.c,line=6,col=17," in log


async def test_task_output_cannot_issue_workflow_commands(tmp_path: Path) -> None:
    toml = f"""
    [tasks.evil]
    cmd = {
        fake_cmd(
            "::add-mask::hunter2",
            "::error::pwned",
            "::endgroup::",
            "::stop-commands::x",
            "::x::",
            "  ::set-env name=A::1",
        )
    }
    [tasks.evil2]
    cmd = {fake_cmd("::warning file=a.c,line=1::pwned", "::token0::", fail=True)}
    """
    log = await run_github(tmp_path, toml)
    commands, _ = runner_view(log)
    assert "::error::pwned" in log  # printed for people to read ...
    assert not any("pwned" in c or "hunter2" in c or "set-env" in c for c in commands)
    # ... and every command the runner obeys is one of ours.
    kinds = {re.match(r"::([a-z-]+)", c)[1] for c in commands}  # type: ignore[index]
    assert kinds <= {"group", "endgroup", "stop-commands", "error"}
    # The tokens are fresh per block and never reused: a task cannot guess the next one.
    assert re.findall(r"^::stop-commands::(token\d+)$", log, re.M) == ["token0", "token1"]


async def test_annotations_are_deduplicated_and_capped_with_a_note(tmp_path: Path) -> None:
    errors = [f"src/m.c:{n}:1: error: problem {n}" for n in range(1, 16)]
    toml = f"""
    [tasks.one]
    cmd = {fake_cmd(*errors, fail=True)}
    [tasks.two]
    cmd = {fake_cmd(errors[0], "src/m.c:1:1: warning: same line, other message", fail=True)}
    """
    log = await run_github(tmp_path, toml)
    commands, _ = runner_view(log)
    error_commands = [c for c in commands if c.startswith("::error")]
    assert len(error_commands) == 10
    assert error_commands[:2] == [
        "::error title=one failed::exited with status 1",
        "::error title=two failed::exited with status 1",
    ]
    assert sum("problem 1" in c and "line=1," in c for c in error_commands) == 1
    assert [c for c in commands if c.startswith("::warning")] == [
        "::warning file=proj/src/m.c,line=1,col=1,title=two::same line, other message"
    ]
    (notice,) = [c for c in commands if c.startswith("::notice")]
    assert "7 errors not annotated" in notice  # 15 distinct, 8 shown after the 2 task errors
    assert "at most 10 errors" in notice


async def test_paths_outside_the_repository_keep_their_location_in_the_message(
    tmp_path: Path,
) -> None:
    toml = f"""
    [tasks.sys]
    cmd = {fake_cmd("/usr/include/stdio.h:27:10: error: oops", fail=True)}
    """
    log = await run_github(tmp_path, toml)
    assert "::error title=sys::/usr/include/stdio.h:27: oops" in log


def test_escaping_follows_the_runner_rules() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("compile[a,b]: x") == "compile[a%2Cb]%3A x"


def test_ci_is_detected_from_the_environment() -> None:
    assert detect_ci({"GITHUB_ACTIONS": "true"}) == "github"
    assert detect_ci({"GITLAB_CI": "true"}) == "gitlab"
    assert detect_ci({"CI": "true"}) == "none"
    assert detect_ci({"GITHUB_ACTIONS": "false"}) == "none"


def test_the_installed_command_uses_github_mode_when_actions_says_so(tmp_path: Path) -> None:
    (tmp_path / "build.toml").write_text(
        '[tasks.hello]\ncmd = ["python3", "-c", "print(\'::error::from task\')"]\n'
    )
    env = {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(tmp_path)}
    result = run_cli(["--no-tui"], tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    commands, _ = runner_view(result.stdout)
    assert commands[0].startswith("::group::hello (succeeded, ")
    assert not any("from task" in c for c in commands)
    plain = run_cli(["--no-tui", "--ci", "none"], tmp_path, env=env)
    assert "::group::" not in plain.stdout


# -- the annotation parser on real tool output (tests/data, see its README) -------------------


def parsed(name: str) -> list[tuple[str, str, int | None, int | None, str, str | None]]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [
        (a.severity, a.path, a.line, a.col, a.message, a.code) for a in parse_annotations(lines)
    ]


def test_gcc() -> None:
    assert parsed("gcc.txt") == [
        ("error", "src/calc.c", 6, 17, "expected ‘;’ before ‘}’ token", None),
        (
            "warning",
            "src/calc.c",
            5,
            9,
            "unused variable ‘unused’ [-Wunused-variable]",
            "-Wunused-variable",
        ),
        (
            "warning",
            "src/calc.c",
            10,
            12,
            "implicit declaration of function ‘total’ [-Wimplicit-function-declaration]",
            "-Wimplicit-function-declaration",
        ),
    ]
    # A fatal error, and an error in a header reached through "In file included from".
    assert parsed("gcc-include.txt") == [
        ("error", "src/main.c", 1, 10, "missing.h: No such file or directory", None),
        ("error", "src/bad.h", 1, 39, "expected ‘;’ before ‘}’ token", None),
    ]


def test_mypy_with_and_without_columns() -> None:
    expected = [
        (13, 16, 'Generator has incompatible item type "float"; expected "bool"  [misc]', "misc"),
        (
            17,
            5,
            'Returning Any from function declared to return "str"  [no-any-return]',
            "no-any-return",
        ),
        (17, 32, 'Unsupported operand types for + ("str" and "float")  [operator]', "operator"),
        (
            20,
            30,
            'List item 1 has incompatible type "str"; expected "Square"  [list-item]',
            "list-item",
        ),
    ]
    assert parsed("mypy-columns.txt") == [
        ("error", "src/shapes.py", line, col, message, code)
        for line, col, message, code in expected
    ]
    assert parsed("mypy.txt") == [
        ("error", "src/shapes.py", line, None, message, code) for line, _, message, code in expected
    ]


def test_pytest_failures_point_at_the_crash_line_with_the_test_name() -> None:
    lines = (DATA / "pytest.txt").read_text(encoding="utf-8").splitlines()
    found = list(parse_annotations(lines))
    assert [(a.path, a.line, a.title, a.code) for a in found] == [
        ("tests/test_stats.py", 11, "test_median_even", "AssertionError"),
        ("src/stats.py", 2, "test_mean_empty", "ZeroDivisionError"),
    ]
    assert found[0].message == "assert 3.0 == 2.5\n+  where 3.0 = median([1.0, 2.0, 3.0, 4.0])"
    assert found[1].message == "ZeroDivisionError: division by zero"


def test_pytest_short_summary_is_the_fallback() -> None:
    lines = ["FAILED tests/test_x.py::TestA::test_b - KeyError: 'k'"]
    (found,) = parse_annotations(lines)
    assert (found.path, found.line, found.title, found.message) == (
        "tests/test_x.py",
        None,
        "TestA::test_b",
        "KeyError: 'k'",
    )


def test_ruff_full_and_concise() -> None:
    expected = [
        ("error", "src/util.py", 1, 8, "`os` imported but unused", "F401"),
        ("error", "src/util.py", 2, 8, "`sys` imported but unused", "F401"),
        ("error", "src/util.py", 6, 16, "Comparison to `None` should be `cond is None`", "E711"),
    ]
    assert parsed("ruff.txt") == expected
    assert parsed("ruff-concise.txt") == expected


def test_tsc_plain_and_pretty() -> None:
    expected = [
        (
            "error",
            "src/price.ts",
            5,
            7,
            "Type 'number' is not assignable to type 'string'.",
            "TS2322",
        ),
        (
            "error",
            "src/price.ts",
            6,
            13,
            "Cannot find name 'totl'. Did you mean 'total'?",
            "TS2552",
        ),
    ]
    assert parsed("tsc.txt") == expected
    assert parsed("tsc-pretty.txt") == expected  # coloured: escapes are dropped first


def test_lines_that_are_not_diagnostics_are_ignored() -> None:
    noise = [
        "ERROR 12:30:45: error: not a path",
        "src/calc.c: In function ‘add’:",
        "src/a.py:3: note: See https://mypy.rtfd.io",
        "    6 |     return a + b",
        "collect2: error: ld returned 1 exit status",
        "Found 4 errors in 1 file (checked 1 source file)",
    ]
    assert list(parse_annotations(noise)) == []
