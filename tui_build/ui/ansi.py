"""Task output made safe to draw and to search: SGR colours become styles, other escapes go.

A task's output reaches the user's terminal only through the dashboard, so whatever a task prints
must never act on that terminal: no clipboard writes (OSC 52), no title changes, no cursor moves,
no alternate screen, no device control strings. Only SGR sequences (colours and text attributes)
are kept, and only as Rich styles, never as raw bytes. C0 and C1 control characters are dropped
too (tabs are expanded), since a stray ``\\x9b`` is a CSI to some terminals.

Decoding is per line and costs ~10 µs, so the pane decodes only the lines it shows (and caches
them); :func:`strip_controls` is the cheap, line-preserving version for search and copy. Search
(:func:`find_lines`, :func:`highlight`) looks at text as shown, escapes ignored, so a match split
by a colour change is still found.
"""

from __future__ import annotations

import re

from rich.ansi import AnsiDecoder
from rich.style import Style
from rich.text import Text

TAB_SIZE = 8

_SEQUENCE = re.compile(
    r"""
    (?P<sgr>\x1b\[[0-9;:]*m)              # SGR: colours and attributes, kept as styles
    | \x1b\[[0-?]*[\x20-/]*[@-~]          # any other CSI: cursor moves, erase, modes
    | \x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?   # OSC (title, clipboard, links), even unterminated
    | \x1b[PX^_][^\x1b\n]*(?:\x1b\\)?     # DCS, SOS, PM, APC
    | \x1b[\x20-/]*[0-~]?                 # other escapes (charsets, save cursor), bare ESC
    | \x9b[0-?]*[\x20-/]*[@-~]            # 8-bit CSI
    | [\x90\x98\x9d-\x9f][^\x07\x1b\x9c\n]*(?:\x07|\x9c|\x1b\\)?   # 8-bit DCS, SOS, OSC, PM, APC
    | [\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f]  # C0 but tab and newline, DEL, C1
    """,
    re.VERBOSE,
)
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_PLAIN = re.compile(_SEQUENCE.pattern.replace("(?P<sgr>", "(?:"), re.VERBOSE)
_SGR = re.compile(r"\x1b\[[0-9;:]*m")


def has_controls(text: str) -> bool:
    """True when `text` holds anything that :func:`sanitize` would change (not tabs, newlines)."""
    return _UNSAFE.search(text) is not None


def sanitize(line: str) -> str:
    """Drop every escape sequence and control character but SGR ones (and tabs)."""
    if not has_controls(line):
        return line
    return _SEQUENCE.sub(lambda m: m.group("sgr") or "", line)


def strip_controls(text: str) -> str:
    """Drop every escape sequence and control character, SGR too, but keep tabs and newlines.

    Line breaks survive (no pattern spans one), so line numbers found in the result are those
    of `text`: search relies on it.
    """
    if "\x1b" in text:
        text = _SGR.sub("", text)  # the common case, 4x faster than the full pattern
    return _PLAIN.sub("", text) if has_controls(text) else text


def decode_line(line: str, *, limit: int | None = None) -> Text:
    """A Rich Text of one line of output: SGR colours as styles, tabs expanded, nothing else.

    Args:
        line: One line of raw output (no newline), escapes included.
        limit: Decode at most this many characters of `line` (None: all of it).

    Returns:
        A new Text the caller may change (stylize, append).
    """
    if limit is not None and len(line) > limit:
        line = line[:limit]
    clean = sanitize(line)
    if "\x1b" in clean:
        text = AnsiDecoder().decode_line(clean)
        text.no_wrap = True
    else:
        text = Text(clean, no_wrap=True)
    if "\t" in text.plain:
        text.expand_tabs(TAB_SIZE)
    return text


def find_lines(text: str, query: str, first: int = 0) -> list[int]:
    """Numbers of the lines of `text` that contain `query`, escapes ignored.

    Smart case: a query with no capital letters matches regardless of case.

    Args:
        text: Lines joined with ``\\n``.
        query: What to look for.
        first: The number of the first line of `text`.
    """
    if not query:
        return []
    plain = strip_controls(text)
    if query == query.lower():
        plain = plain.lower()
    found: list[int] = []
    line, last = first, 0
    pos = plain.find(query)
    while pos != -1:
        line += plain.count("\n", last, pos)
        found.append(line)
        end = plain.find("\n", pos)
        if end == -1:
            break
        line, last = line + 1, end + 1
        pos = plain.find(query, last)
    return found


def highlight(text: Text, query: str, style: Style) -> None:
    """Stylize every occurrence of `query` (smart case, as :func:`find_lines`) in `text`."""
    plain = text.plain if query != query.lower() else text.plain.lower()
    start = plain.find(query) if query else -1
    while start != -1:
        text.stylize(style, start, start + len(query))
        start = plain.find(query, start + len(query))
