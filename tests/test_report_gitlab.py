"""GitLab CI output, driven by real engine events: sections around each task, failures open."""

from __future__ import annotations

import io
import re
from pathlib import Path

from conftest import FakeRunner, make_engine, make_graph, run_cli

from tui_build.report.gitlab import GitLabReporter, section_name

BUILD = """
[tasks.compile]
foreach = "src/*.c"
cmd = ["fake", "out=compiling {input}"]
[tasks.broken]
cmd = ["fake", "out=src/b.c:3:1: error: nope", "fail"]
"""

START = re.compile(r"^section_start:(\d+):([^\[\r]+)(\[collapsed=true\])?\r\x1b\[0K(.*)$")
END = re.compile(r"^section_end:(\d+):([^\r]+)\r\x1b\[0K$")


async def gitlab_log(tmp_path: Path) -> str:
    (tmp_path / "src").mkdir()
    for name in ("a.c", "b.c"):
        (tmp_path / "src" / name).write_text("")
    out = io.StringIO()
    engine, _ = make_engine(
        make_graph(tmp_path, BUILD), FakeRunner(), tmp_path, jobs=1, keep_going=True
    )
    reporter = GitLabReporter(out)
    engine.subscribe(reporter)
    await engine.run()
    reporter.summary(engine.summary)
    return out.getvalue()


async def test_sections_collapsed_for_successes_and_open_for_failures(tmp_path: Path) -> None:
    lines = (await gitlab_log(tmp_path)).split("\n")  # not splitlines(): \\r
    sections: dict[str, tuple[int, bool, str, list[str]]] = {}
    current: str | None = None
    for line in lines:
        if start := START.match(line):
            assert current is None, "sections do not nest"
            current = start[2]
            sections[current] = (int(start[1]), bool(start[3]), start[4], [])
        elif end := END.match(line):
            assert end[2] == current
            began = sections[current][0]
            assert began <= int(end[1])
            current = None
        elif current is not None:
            sections[current][3].append(line)
    assert current is None
    assert set(sections) == {"compile_src_a.c", "compile_src_b.c", "broken"}
    began, collapsed, header, body = sections["compile_src_a.c"]
    assert collapsed and "✓ compile[src/a.c]" in header and body == ["compiling src/a.c"]
    began, collapsed, header, body = sections["broken"]
    assert not collapsed
    assert "✗ broken" in header and "exited with status 1" in header
    assert body == ["src/b.c:3:1: error: nope"]
    # The summary, failures last, is outside every section.
    summary = next(i for i, line in enumerate(lines) if line.startswith("═══ tuibuild: failed"))
    assert not any(line.startswith("section_") for line in lines[summary:])
    assert lines[-2:] == ["  │ src/b.c:3:1: error: nope", ""]


def test_section_names_are_sanitized() -> None:
    assert section_name("docs[edition=web,lang=en]") == "docs_edition_web_lang_en"
    assert section_name("compile[src/a b.c]") == "compile_src_a_b.c"
    assert section_name("[]") == "task"
    assert re.fullmatch(r"[a-zA-Z0-9_.-]+", section_name("ünïcode/…"))


def test_two_tasks_with_the_same_clean_name_get_distinct_sections() -> None:
    reporter = GitLabReporter(io.StringIO())
    assert reporter._unique("a[x/y]") == "a_x_y"
    assert reporter._unique("a[x_y]") == "a_x_y.2"


def test_the_installed_command_uses_sections_in_gitlab(tmp_path: Path) -> None:
    (tmp_path / "build.toml").write_text('[tasks.hello]\ncmd = ["echo", "hi"]\n')
    result = run_cli(["--no-tui"], tmp_path, env={"GITLAB_CI": "true", "GITHUB_ACTIONS": ""})
    assert result.returncode == 0, result.stderr
    assert re.search(
        r"^section_start:\d+:hello\[collapsed=true\][\r\n]\x1b\[0K", result.stdout, re.M
    )
    assert re.search(r"^section_end:\d+:hello[\r\n]\x1b\[0K$", result.stdout, re.M)
    forced = run_cli(["--no-tui", "--ci", "github"], tmp_path, env={"GITLAB_CI": "true"})
    assert "section_start" not in forced.stdout and "::group::hello" in forced.stdout
