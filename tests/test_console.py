"""The headless frontend, driven by real engine events: blocks, streams, summary, colour."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from conftest import FakeRunner, make_engine, make_graph

from tui_build.events import Heartbeat, TaskState, TaskStateChanged
from tui_build.report.console import ConsoleReporter, use_color

TWO = """
[tasks.first]
cmd = ["fake", "out=one-1", "out=one-2"]
[tasks.second]
cmd = ["fake", "out=two-1", "out=two-2"]
[tasks.broken]
cmd = ["fake", "out=error: it broke", "fail"]
"""


async def run_with_console(tmp_path: Path, toml: str, **options: object) -> str:
    out = io.StringIO()
    engine, _ = make_engine(
        make_graph(tmp_path, toml), FakeRunner(), tmp_path, jobs=3, keep_going=True
    )
    reporter = ConsoleReporter(out, **options)  # type: ignore[arg-type]
    engine.subscribe(reporter)
    await engine.run()
    reporter.summary(engine.summary)
    return out.getvalue()


async def test_block_mode_prints_each_task_as_one_unscrambled_block(tmp_path: Path) -> None:
    text = await run_with_console(tmp_path, TWO)
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if "✓ first" in line)
    assert lines[first + 1 : first + 3] == ["one-1", "one-2"]
    second = next(i for i, line in enumerate(lines) if "✓ second" in line)
    assert lines[second + 1 : second + 3] == ["two-1", "two-2"]
    assert "succeeded in" in lines[first]


async def test_failures_come_last_with_status_and_last_lines(tmp_path: Path) -> None:
    text = await run_with_console(tmp_path, TWO)
    summary = text[text.index("═══ tuibuild: failed") :]
    assert "3 tasks: 2 succeeded, 1 failed" in summary
    assert "✗ broken: exited with status 1" in summary
    assert "│ error: it broke" in summary
    assert summary.rstrip().endswith("│ error: it broke")  # the cause is at the bottom


async def test_stream_mode_prefixes_lines_with_the_task(tmp_path: Path) -> None:
    text = await run_with_console(tmp_path, TWO, mode="stream")
    assert "[first] one-1\n[first] one-2\n" in text
    assert "[second] two-2\n" in text


async def test_color_only_when_asked(tmp_path: Path) -> None:
    plain = await run_with_console(tmp_path, TWO, color=False)
    assert "\x1b[" not in plain
    colored = await run_with_console(tmp_path, TWO, color=True)
    assert "\x1b[31" in colored  # failures in red


def test_no_color_and_force_color() -> None:
    tty = io.StringIO()
    tty.isatty = lambda: True  # type: ignore[method-assign]
    assert use_color(tty, {}) is True
    assert use_color(tty, {"NO_COLOR": "1"}) is False
    assert use_color(io.StringIO(), {"FORCE_COLOR": "1"}) is True
    assert use_color(io.StringIO(), {}) is False


def test_plain_output_drops_escape_sequences_from_task_output(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    log.write_bytes(b"\x1b]52;c;ZXZpbA==\x07ok \x1b[31mred\x1b[0m\x1b]0;title\x07\n")
    out = io.StringIO()
    ConsoleReporter(out)._copy_log(str(log))
    assert out.getvalue() == "ok red\n"


def test_heartbeat_names_long_running_tasks() -> None:
    now = [0.0]
    out = io.StringIO()
    reporter = ConsoleReporter(out, heartbeat_every=30.0, clock=lambda: now[0])
    reporter(Heartbeat((("slow", 12.0),), 0.0))
    assert out.getvalue() == ""
    now[0] = 31.0
    reporter(Heartbeat((("slow", 43.0), ("slower", 35.0)), 0.0))
    assert "still running: slow (43.0s), slower (35.0s)" in out.getvalue()


async def test_a_task_that_prints_nothing_is_just_its_header(tmp_path: Path) -> None:
    toml = '[tasks.quiet]\ncmd = ["fake"]\n[tasks.loud]\ncmd = ["fake", "out=hello"]\n'
    text = await run_with_console(tmp_path, toml)
    lines = text.splitlines()
    quiet = next(i for i, line in enumerate(lines) if "✓ quiet" in line)
    assert lines[quiet + 1] == "" or "──" in lines[quiet + 1]
    loud = next(i for i, line in enumerate(lines) if "✓ loud" in line)
    assert lines[loud + 1] == "hello"


def test_a_finished_task_seen_without_its_start_still_shows_its_log(tmp_path: Path) -> None:
    """Events replayed from a record may not include the start: the log is what counts."""
    log = tmp_path / "t.log"
    log.write_text("from the log\n")
    out = io.StringIO()
    reporter = ConsoleReporter(out)
    reporter(
        TaskStateChanged(
            task="t",
            state=TaskState.SUCCEEDED,
            previous=TaskState.RUNNING,
            time=0.0,
            duration=1.0,
            log_path=str(log),
        )
    )
    assert "from the log" in out.getvalue()


async def test_a_background_writer_prints_the_same_story_in_the_same_order(tmp_path: Path) -> None:
    """The CLI's console writes from a thread (a big block must not hold up the engine): the
    text, its order and the failures at the bottom are those of the direct writer."""
    (tmp_path / "direct").mkdir()
    (tmp_path / "background").mkdir()
    direct = await run_with_console(tmp_path / "direct", TWO)
    background = await run_with_console(tmp_path / "background", TWO, background=True)

    def without_paths(text: str) -> str:
        for folder in ("direct", "background"):
            text = text.replace(str(tmp_path / folder), "R")
        return re.sub(r"\d+\.\d+s", "Ns", text)  # durations differ from run to run

    assert without_paths(background) == without_paths(direct)
    assert background.rstrip().endswith("│ error: it broke")


def test_a_closed_console_stream_does_not_stop_the_build(tmp_path: Path) -> None:
    """`tuibuild | head`: once the reader is gone, writes are dropped and draining returns."""
    import os

    log = tmp_path / "t.log"
    log.write_text("line\n" * 200_000)
    read_end, write_end = os.pipe()
    os.close(read_end)
    out = open(write_end, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    reporter = ConsoleReporter(out, background=True)
    for _ in range(3):
        reporter._copy_log(str(log))
    reporter.drain()  # returns: nothing is left waiting for a reader that is gone
    assert reporter.out._failed  # type: ignore[union-attr]
    with contextlib.suppress(OSError):
        out.close()


def test_a_character_cut_by_a_read_chunk_is_kept_whole(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    text = "x" * ((1 << 20) - 1) + "é and the rest\n"  # 'é' straddles the 1 MiB read
    log.write_text(text, encoding="utf-8")
    out = io.StringIO()
    ConsoleReporter(out)._copy_log(str(log))
    assert out.getvalue() == text


def test_a_log_copied_to_a_real_file_keeps_its_bytes_its_order_and_its_cleaning(
    tmp_path: Path,
) -> None:
    """Plain ASCII chunks go to the file's byte buffer as they are, the rest through the text
    layer: the two must interleave in order, with text written before and after."""
    from tui_build.logs import strip_escapes
    from tui_build.report.console import copy_log

    ascii_part = "".join(f"line {i}\n" for i in range(200_000))  # well over one 1 MiB chunk
    rest = "naïve é\n\x1b[31mred\x1b[0m\n" + "tail\n" * 10 + "no newline at the end"
    log = tmp_path / "t.log"
    log.write_text(ascii_part + rest, encoding="utf-8")
    target = tmp_path / "out.txt"
    with open(target, "w", encoding="utf-8") as out:
        out.write("header\n")
        copy_log(str(log), out, strip_escapes)
        out.write("footer\n")
    expected = "header\n" + ascii_part + strip_escapes(rest) + "\nfooter\n"
    assert target.read_text(encoding="utf-8") == expected
