"""The output pane and its line store: what a user reading task output would notice if it broke.

Pure tests of :mod:`tui_build.ui.line_store` and :mod:`tui_build.ui.ansi` first (no app), then
Pilot tests of :class:`OutputPane` mounted in a tiny app at 120x40.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TypeVar

import pytest
from rich.console import Console
from textual.app import App, ComposeResult
from textual.message import Message
from textual.strip import Strip

from tui_build.ui.ansi import decode_line, find_lines, strip_controls
from tui_build.ui.line_store import LINE_LIMIT, OutputStore, TaskLines
from tui_build.ui.widgets.output_pane import OutputPane

MessageT = TypeVar("MessageT", bound=Message)

HOSTILE = (
    "\x1b]52;c;cHduZWQ=\x07"  # OSC 52: write the user's clipboard
    "\x1b]0;pwned\x07"  # OSC 0: set the window title
    "\x1b[2J\x1b[H"  # erase the screen, cursor home
    "\x1b[?1049h"  # alternate screen
    "\x1b[10;5H\x1b[3A\x1b[K"  # cursor moves, erase line
    "\x1bP+q544e\x1b\\"  # DCS (terminfo query)
    "\x1b7\x1b8\x07\x08\x9b6n"  # save/restore cursor, BEL, BS, 8-bit CSI
)


def write_log(path: Path, text: str) -> None:
    """Write a log as the engine does: the same bytes that are fed, as UTF-8."""
    path.write_bytes(text.encode("utf-8"))


def feed_in_chunks(lines: TaskLines, text: str, size: int = 65536) -> None:
    for start in range(0, len(text), size):
        lines.feed(text[start : start + size])


# -- the line store ----------------------------------------------------------------------------


def test_chunks_split_anywhere_give_the_same_lines() -> None:
    text = "".join(f"line {i} {'x' * (i % 37)}\n" for i in range(500)) + "open end"
    rng = random.Random(7)
    lines = TaskLines("t")
    position = 0
    while position < len(text):
        step = rng.randint(1, 60)
        lines.feed(text[position : position + step])
        position += step
    expected = text.split("\n")
    assert lines.line_count == len(expected)
    assert [lines.line(i) for i in range(lines.line_count)] == expected


def test_carriage_return_progress_shows_its_last_state() -> None:
    lines = TaskLines("t")
    lines.feed("building\n 10%")
    lines.feed("\r 20%\r")
    assert lines.line(1) == " 20%"
    lines.feed(" 3")
    lines.feed("0%\r 40%")
    assert (lines.line_count, lines.line(1)) == (2, " 40%")
    lines.feed("\r100%\r\ndone\r\n")
    assert [lines.line(i) for i in range(lines.line_count)] == ["building", "100%", "done"]


def test_version_bumps_on_every_change() -> None:
    store = OutputStore()
    seen = store.version
    store.feed("a", "x")
    assert store.changed_since(seen)
    seen = store.version
    assert not store.changed_since(seen)
    lines = store.get("a")
    assert lines is not None
    before = lines.version
    store.feed("a", "y")
    assert lines.version > before and lines.line(0) == "xy"


def test_a_new_attempt_starts_afresh(tmp_path: Path) -> None:
    store = OutputStore()
    store.start_attempt("t", None)
    store.feed("t", "first attempt\n")
    store.start_attempt("t", str(tmp_path / "t.2.log"))
    lines = store.get("t")
    assert lines is not None and lines.line_count == 0
    assert lines.log_path == str(tmp_path / "t.2.log")


def test_lines_before_the_tail_come_back_from_the_log(tmp_path: Path) -> None:
    text = "".join(f"{i}: \x1b[32mok\x1b[0m {'é' * (i % 5)}\n" for i in range(5000)) + "tail"
    log = tmp_path / "t.log"
    write_log(log, text)
    lines = TaskLines("t", str(log), tail_limit=100)
    feed_in_chunks(lines, text, size=777)
    assert lines.first_in_memory > 0
    assert [lines.line(i) for i in range(lines.line_count)] == text.split("\n")
    assert lines.held_lines <= 125 + 8 * 1000


def test_two_million_line_log_reads_both_ends_with_bounded_memory(tmp_path: Path) -> None:
    count = 2_000_000
    text = "".join(f"line {i:07d} of the build\n" for i in range(count))
    log = tmp_path / "big.log"
    write_log(log, text)
    lines = TaskLines("big", str(log), tail_limit=20_000)
    feed_in_chunks(lines, text)
    del text
    assert lines.line_count == count
    assert lines.held_lines <= 25_000
    assert lines.line(count - 1) == "line 1999999 of the build"
    assert lines.line(0) == "line 0000000 of the build"
    assert lines.line(1_234_567) == "line 1234567 of the build"
    assert lines.held_lines <= 25_000 + 8 * 1000


def test_very_long_lines_are_capped_with_a_count(tmp_path: Path) -> None:
    long = "y" * 3_000_000
    text = f"short\n{long}\nafter\n{long}"
    log = tmp_path / "long.log"
    write_log(log, text)
    lines = TaskLines("t", str(log), tail_limit=1)
    feed_in_chunks(lines, text)
    assert lines.line(2) == "after"
    for index in (1, 3):  # from the log, and the open line in memory
        shown, cut = lines.clipped_line(index)
        assert shown == "y" * LINE_LIMIT and cut == len(long) - LINE_LIMIT


def test_find_lines_ignores_escapes_and_uses_smart_case() -> None:
    text = "ok\n\x1b[31mERROR\x1b[0m: bad\nerror again\nnothing"
    assert find_lines(text, "error", 10) == [11, 12]
    assert find_lines(text, "ERROR", 10) == [11]
    assert find_lines(text, "31m", 0) == []


# -- escapes -----------------------------------------------------------------------------------


def test_every_escape_but_sgr_is_dropped_and_sgr_becomes_style() -> None:
    text = decode_line(
        f"{HOSTILE}a\tb \x1b[1;31mred\x1b[0m \x1b[38;5;42mgreen\x1b]8;;http://x\x1b\\"
    )
    assert text.plain == "a       b red green"
    segments = list(text.render(Console(width=200)))
    assert all("\x1b" not in s.text and "\x07" not in s.text for s in segments)
    styles = {s.text: s.style for s in segments}
    red = styles["red"]
    assert red is not None and red.bold and red.color is not None and red.color.number == 1
    green = styles["green"]
    assert green is not None and green.color is not None and green.color.number == 42


def test_unterminated_sequences_do_not_leak() -> None:
    assert decode_line("text\x1b]0;title without end").plain == "text"
    assert decode_line("text\x1b").plain == "text"
    assert strip_controls("a\x1b[31mb\x1b[0m\nc\x1b]52;c;Zm9v\x07d") == "ab\ncd"


# -- the pane ----------------------------------------------------------------------------------


class PaneApp(App[None]):
    def __init__(self, store: OutputStore) -> None:
        super().__init__()
        self.store = store
        self.messages: list[Message] = []

    def compose(self) -> ComposeResult:
        yield OutputPane(self.store)


def strip_text(strip: Strip) -> str:
    return "".join(segment.text for segment in strip).rstrip()


def visible(pane: OutputPane) -> list[str]:
    return [strip_text(pane.render_line(y)) for y in range(pane.scrollable_content_region.height)]


def feed_numbered(store: OutputStore, task: str, start: int, stop: int) -> str:
    text = "".join(f"{task} line {i}\n" for i in range(start, stop))
    for at in range(0, len(text), 65536):
        store.feed(task, text[at : at + 65536])
    return text


def posted(app: PaneApp, kind: type[MessageT]) -> list[MessageT]:
    """Messages of `kind`, each once (the hook sees a bubbling message at every node)."""
    unique = {id(m): m for m in app.messages if isinstance(m, kind)}
    return list(unique.values())


def follow_changes(app: PaneApp) -> list[bool]:
    return [m.following for m in posted(app, OutputPane.FollowChanged)]


@pytest.fixture
def store() -> OutputStore:
    return OutputStore()


async def test_empty_pane_shows_a_hint(store: OutputStore) -> None:
    app = PaneApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(OutputPane)
        assert visible(pane)[0] == "select a task"
        pane.show_task("t")
        await pilot.pause()
        assert visible(pane)[0] == "no output yet"


async def test_follows_200k_lines_then_pauses_and_resumes(store: OutputStore) -> None:
    app = PaneApp(store)
    async with app.run_test(size=(120, 40), message_hook=app.messages.append) as pilot:
        pane = app.query_one(OutputPane)
        pane.show_task("t")
        store.start_attempt("t", None)
        for start in range(0, 200_000, 10_000):
            feed_numbered(store, "t", start, start + 10_000)
            pane.refresh_lines()
        await pilot.pause()
        assert visible(pane)[-1] == "t line 199999"
        assert pane.follow

        pane.focus()
        await pilot.pause()
        await pilot.press("up", "up", "up")
        await pilot.pause()
        assert not pane.follow and follow_changes(app) == [False]
        top = pane.scroll_y
        feed_numbered(store, "t", 200_000, 200_100)
        pane.refresh_lines()
        await pilot.pause()
        assert pane.scroll_y == top
        assert visible(pane)[-1] == "t line 199996"

        await pilot.press("end")
        await pilot.pause()
        assert pane.follow and follow_changes(app) == [False, True]
        assert visible(pane)[-1] == "t line 200099"
        feed_numbered(store, "t", 200_100, 200_101)
        pane.refresh_lines()
        await pilot.pause()
        assert visible(pane)[-1] == "t line 200100"


async def test_home_scrolls_back_to_line_0_read_from_the_log(tmp_path: Path) -> None:
    store = OutputStore(tail_limit=1000)
    log = tmp_path / "t.log"
    text = "".join(f"t line {i}\n" for i in range(50_000))
    write_log(log, text)
    store.start_attempt("t", str(log))
    app = PaneApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(OutputPane)
        pane.show_task("t")
        store.feed("t", text)
        pane.refresh_lines()
        pane.focus()
        await pilot.pause()
        await pilot.press("g")
        await pilot.pause()
        assert not pane.follow
        assert visible(pane)[:2] == ["t line 0", "t line 1"]
        pane.scroll_to(y=25_000, animate=False)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert visible(pane)[0] == "t line 25000"


async def test_search_then_next_and_previous_match(tmp_path: Path) -> None:
    store = OutputStore(tail_limit=1000)
    log = tmp_path / "t.log"
    text = "".join(f"step {i}{' FOUND it' if i % 3000 == 7 else ''}\n" for i in range(10_000))
    write_log(log, text)
    store.start_attempt("t", str(log))
    app = PaneApp(store)
    async with app.run_test(size=(120, 40), message_hook=app.messages.append) as pilot:
        pane = app.query_one(OutputPane)
        pane.show_task("t")
        store.feed("t", text)
        pane.refresh_lines()
        pane.focus()
        await pilot.pause()
        await pilot.press("slash", *"found", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        # Typing "n" went into the prompt, not to next-match; the tail match is nearest.
        assert pane.search_query == "found"
        assert pane.current_match == ("t", 9007)
        await pilot.press("n")  # wraps to the first match, found in the log file
        assert pane.current_match == ("t", 7)
        assert pane.scroll_y <= 7 < pane.scroll_y + 38
        assert "FOUND" in visible(pane)[7 - round(pane.scroll_y)]
        await pilot.press("n")
        assert pane.current_match == ("t", 3007)
        await pilot.press("N", "N")
        assert pane.current_match == ("t", 9007)
        updates = posted(app, OutputPane.SearchUpdated)
        assert (updates[-1].current, updates[-1].total) == (3, 4)


async def test_matches_are_highlighted_the_current_one_distinctly(store: OutputStore) -> None:
    app = PaneApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(OutputPane)
        pane.show_task("t")
        store.feed("t", "a needle\nhay\nneedle b\n")
        pane.refresh_lines()
        pane.search("needle")
        await pilot.pause()
        assert pane.current_match == ("t", 0)

        def needle_style(y: int) -> object:
            return next(s.style for s in pane.render_line(y) if s.text == "needle")

        assert needle_style(0) != needle_style(2)
        assert needle_style(2) != next(s.style for s in pane.render_line(1))


async def test_group_view_shows_headers_and_lines_in_order(store: OutputStore) -> None:
    app = PaneApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(OutputPane)
        store.feed("b", "b one\nb two\n")
        store.feed("a", "a one\n")
        pane.show_group("compile", [("a", "── ✓ a succeeded ──"), ("b", "── ▶ b running ──")])
        await pilot.pause()
        shown = ["── ✓ a succeeded ──", "a one", "── ▶ b running ──", "b one", "b two"]
        assert visible(pane)[:5] == shown
        store.feed("a", "a two\n")
        store.feed("b", "b three")
        pane.show_group("compile", [("a", "── ✓ a succeeded ──"), ("b", "── ✗ b failed ──")])
        pane.refresh_lines()
        await pilot.pause()
        expected = [shown[0], "a one", "a two", "── ✗ b failed ──", "b one", "b two", "b three"]
        assert visible(pane)[:7] == expected
        assert pane.plain_text() == "\n".join(expected)


async def test_escapes_never_reach_the_screen_and_long_lines_are_capped(
    store: OutputStore,
) -> None:
    app = PaneApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(OutputPane)
        pane.show_task("t")
        store.feed("t", f"{HOSTILE}\x1b[31mred\x1b[0m safe\n" + "z" * 2_000_000 + "\n")
        pane.refresh_lines()
        await pilot.pause()
        first = pane.render_line(0)
        assert strip_text(first) == "red safe"
        assert all(not any(c in s.text for c in "\x1b\x07\x08\x9b") for s in first)
        red = next(s.style for s in first if s.text == "red")
        assert red is not None and red.color is not None and red.color.name == "color(1)"
        assert pane.virtual_size.width >= LINE_LIMIT
        pane.scroll_to(x=LINE_LIMIT - 10, animate=False)
        await pilot.pause()
        assert "(1,990,000 more characters)" in strip_text(pane.render_line(1))
        assert pane.plain_text().startswith("red safe\n")


async def test_a_rerun_replaces_the_shown_output(store: OutputStore, tmp_path: Path) -> None:
    app = PaneApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(OutputPane)
        store.start_attempt("t", None)
        store.feed("t", "old 1\nold 2\n")
        pane.show_task("t")
        await pilot.pause()
        store.start_attempt("t", str(tmp_path / "t.2.log"))
        store.feed("t", "new 1\n")
        pane.refresh_lines()
        await pilot.pause()
        assert visible(pane)[:2] == ["new 1", ""]


async def test_escape_closes_the_search_prompt_without_searching(store: OutputStore) -> None:
    app = PaneApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(OutputPane)
        pane.show_task("t")
        store.feed("t", "abc\n")
        pane.refresh_lines()
        pane.focus()
        await pilot.pause()
        await pilot.press("slash", "a", "b")
        assert visible(pane)[-1] == "/ab"
        await pilot.press("escape")
        assert pane.search_query == "" and visible(pane)[-1] == ""


async def test_task_names_that_look_like_markup_are_shown_literally(store: OutputStore) -> None:
    app = PaneApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(OutputPane)
        pane.show_task("docs[edition=web,lang=en]")
        await pilot.pause()
        assert pane.border_title == "docs\\[edition=web,lang=en]"


async def test_a_new_attempt_forgets_the_width_of_the_last_one(store: OutputStore) -> None:
    """A re-run that prints short lines must not keep the scrollbar of a wide traceback."""
    app = PaneApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(OutputPane)
        store.start_attempt("t", None)
        store.feed("t", "short\n" + "w" * 300 + "\n")
        pane.show_task("t")
        await pilot.pause()
        assert pane.virtual_size.width >= 300
        store.start_attempt("t", None)
        store.feed("t", "all 3 rounds passed\n")
        pane.refresh_lines()
        await pilot.pause()
        assert visible(pane)[0] == "all 3 rounds passed"
        assert pane.virtual_size.width < pane.size.width


def test_last_lines_start_finds_the_tail_of_n_lines() -> None:
    from tui_build.ui.line_store import last_lines_start

    text = "a\n\nccc\r\n" * 50 + "open"
    for n in (1, 2, 3, 10, 149):
        tail = text[last_lines_start(text, n) :]
        assert tail.count("\n") == n - 1 and text.endswith(tail)
        assert text[last_lines_start(text, n) - 1] == "\n"


def test_colours_carry_from_line_to_line_as_on_a_terminal() -> None:
    """A tool turns red on, prints lines, resets: every line in between starts red, in any
    chunking; a reset, a new colour or attribute changes what the next lines start with."""
    text = (
        "plain\n\x1b[31mred on\nstill red\nred \x1b[1mand bold\nbold red\x1b[22m\n"
        "red again\x1b[0m\n"
        "plain again\n\x1b[38;5;208;44morange on blue\nsame\x1b[39m\nblue only\x1b[49m\nnone"
    )
    expected = [
        "",
        "",
        "\x1b[31m",
        "\x1b[31m",
        "\x1b[1;31m",
        "\x1b[31m",
        "",
        "",
        "\x1b[38;5;208;44m",
        "\x1b[44m",
        "",
    ]
    for size in (1, 7, len(text)):
        lines = TaskLines("t")
        feed_in_chunks(lines, text, size)
        assert [lines.sgr_prefix(i) for i in range(lines.line_count)] == expected, size


async def test_a_line_inside_a_coloured_stretch_is_drawn_in_its_colour(store: OutputStore) -> None:
    app = PaneApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(OutputPane)
        pane.show_task("t")
        store.feed("t", "\x1b[31mfirst\nsecond\x1b[0m\nthird\n")
        pane.refresh_lines()
        await pilot.pause()
        second = next(s.style for s in pane.render_line(1) if s.text == "second")
        assert second is not None and second.color is not None and second.color.name == "color(1)"
        third = next(s.style for s in pane.render_line(2) if s.text == "third")
        assert third is None or third.color is None or third.color.name != "color(1)"
        assert strip_text(pane.render_line(1)) == "second"
