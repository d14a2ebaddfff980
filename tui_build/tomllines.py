"""Where tables and keys sit in the raw text of a TOML file.

`tomllib` returns plain dicts without positions, yet every build-file error must point at a line.
This module scans the text itself, line by line, for table headers and keys, and records the
first line of every dotted path. It also catches a task or template defined twice before
`tomllib` does, since its own message ("Cannot declare ('tasks', 'x') twice") is worse.

The scan is deliberately forgiving: it understands headers, dotted and quoted keys and
multi-line strings, and gives up quietly on anything else (callers fall back to line 1).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_BARE = re.compile(r"[A-Za-z0-9_-]+")
# The lines nearly every build file is made of, recognised in one match each: `[a.b]` and
# `key = ...` with bare keys. Anything else goes through the general parse below.
_SIMPLE_HEADER = re.compile(r"[ \t]*\[([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\][ \t]*(?:#.*)?$")
_SIMPLE_KEY = re.compile(r"[ \t]*([A-Za-z0-9_-]+)[ \t]*=")
_DEFINED_ONCE = ("tasks", "templates")

Path_ = tuple[str, ...]


@dataclass
class Lines:
    """First line (1-based) of each dotted path, and where tasks and templates are defined."""

    first: dict[Path_, int] = field(default_factory=dict)
    defined: dict[Path_, int] = field(default_factory=dict)
    """Line of the exact definition of a path: its `[header]`, or `name = {...}`."""
    duplicates: list[tuple[Path_, int, int]] = field(default_factory=list)
    """(path, first line, second line) for each task or template defined twice."""

    def of(self, *path: str) -> int:
        """The line of the path's own definition, else of its first mention, else 1."""
        return self.defined.get(path) or self.first.get(path) or 1


def _parse_key(text: str, pos: int) -> tuple[list[str], int] | None:
    """Parse a dotted key starting at `pos`; return its parts and the position after it."""
    parts: list[str] = []
    while True:
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos >= len(text):
            return None
        char = text[pos]
        if char == '"':
            end = pos + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                return None
            try:
                parts.append(json.loads(text[pos : end + 1]))
            except ValueError:
                parts.append(text[pos + 1 : end])
            pos = end + 1
        elif char == "'":
            end = text.find("'", pos + 1)
            if end < 0:
                return None
            parts.append(text[pos + 1 : end])
            pos = end + 1
        else:
            match = _BARE.match(text, pos)
            if match is None:
                return None
            parts.append(match.group())
            pos = match.end()
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return parts, pos


def _header(line: str) -> tuple[list[str], bool] | None:
    """The path of a `[table]` or `[[array]]` header line (and whether it is an array)."""
    stripped = line.lstrip()
    if not stripped.startswith("["):
        return None
    array = stripped.startswith("[[")
    parsed = _parse_key(stripped, 2 if array else 1)
    if parsed is None:
        return None
    parts, pos = parsed
    closing = "]]" if array else "]"
    if not stripped.startswith(closing, pos):
        return None
    rest = stripped[pos + len(closing) :].strip()
    if rest and not rest.startswith("#"):
        return None
    return parts, array


def scan(text: str) -> Lines:
    """Record the lines of every table and key path in `text`."""
    lines = Lines()
    table: list[str] = []
    in_string: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string is not None:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        simple = _SIMPLE_HEADER.match(line)
        if simple is not None:
            table = simple.group(1).split(".")
            _record(lines, tuple(table), number, define=True)
            continue
        header = _header(line)
        if header is not None:
            table, array = header
            _record(lines, tuple(table), number, define=not array)
            continue
        simple = _SIMPLE_KEY.match(line)
        if simple is not None:
            _record(lines, (*table, simple.group(1)), number, define=True)
        else:
            parsed = _parse_key(line, 0)
            if parsed is not None and parsed[1] < len(line) and line[parsed[1]] == "=":
                _record(lines, (*table, *parsed[0]), number, define=True)
        if '"""' not in line and "'''" not in line:
            continue
        for quote in ('"""', "'''"):
            if line.count(quote) % 2 == 1:
                in_string = quote
                break
    return lines


def _record(lines: Lines, path: Path_, number: int, define: bool) -> None:
    for size in range(1, len(path) + 1):
        lines.first.setdefault(path[:size], number)
    if not define:
        return
    if len(path) == 2 and path[0] in _DEFINED_ONCE and path in lines.defined:
        lines.duplicates.append((path, lines.defined[path], number))
        return
    lines.defined.setdefault(path, number)


# -- the fast path --------------------------------------------------------------------------------
#
# Generated build files are thousands of `[tasks.x]` headers and `key = "..."` / `key = [...]`
# lines; `tomllib` plus the scan above spend ~60 ms on 2,000 tasks. `parse_simple` reads that
# subset in one pass and declines (returns None) on anything else, so the caller falls back to
# `tomllib` for the full language and its error messages. Values it accepts are JSON as well as
# TOML (only the escapes both share, no floats, no trailing commas), so `json.loads` builds them.

_STR = r'"(?:[^"\\\x00-\x1f\x7f]|\\["\\btnfr])*"'
_SCALAR = rf"(?:{_STR}|-?(?:0|[1-9][0-9]{{0,17}})|true|false)"
_JSONISH = rf"(?:{_SCALAR}|\[[ \t]*(?:{_SCALAR}(?:[ \t]*,[ \t]*{_SCALAR})*)?[ \t]*\])"
_LITERAL = r"'[^'\x00-\x08\x0a-\x1f\x7f]*'"
_COMMENT = r"[ \t]*(?:#[^\x00-\x08\x0a-\x1f\x7f]*)?"
_LINE = re.compile(
    rf"[ \t]*(?:"
    rf"\[([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\]"  # 1: a [table] header
    rf"|([A-Za-z0-9_-]+)[ \t]*=[ \t]*(?:({_JSONISH})|({_LITERAL})|(\{{[^}}]*\}}))"  # 2: key, 3-5
    rf")?{_COMMENT}"
)
_INLINE_ITEM = re.compile(rf"[ \t]*([A-Za-z0-9_-]+)[ \t]*=[ \t]*(?:({_JSONISH})|({_LITERAL}))[ \t]*")
# What splitlines() would break a line at but TOML would not, and control characters TOML forbids
# outside strings: a text with any of them is left to the full parser (and to `scan`).
_DECLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029]")


def parse_simple(text: str) -> tuple[dict[str, object], Lines] | None:
    """The document and its `Lines` when `text` is in the simple subset, else None.

    Whatever it returns equals `tomllib.loads(text)` and `scan(text)`.
    """
    if _DECLINE.search(text):
        return None
    root: dict[str, object] = {}
    tables: dict[Path_, dict[str, object]] = {(): root}
    """Tables made by headers: explicitly, or implicitly as a header's parents."""
    explicit: set[Path_] = set()
    lines = Lines()
    first, defined = lines.first, lines.defined
    table: Path_ = ()
    current = root
    for number, line in enumerate(text.split("\n"), start=1):
        match = _LINE.fullmatch(line)
        if match is None:
            return None
        header, key, jsonish, literal, inline = match.groups()
        if header is not None:
            table = tuple(header.split("."))
            if table in explicit:
                return None
            explicit.add(table)
            defined.setdefault(table, number)
            known = tables.get(table)
            if known is not None:
                current = known
                continue
            current = root
            for size in range(1, len(table) + 1):
                path = table[:size]
                child = tables.get(path)
                if child is None:
                    if path[-1] in current:
                        return None  # a key's value, not a table a header may extend
                    child = current[path[-1]] = tables[path] = {}
                    first.setdefault(path, number)
                current = child
            continue
        if key is None:
            continue
        if key in current:
            return None
        if jsonish is not None:
            value: object = json.loads(jsonish)
        elif literal is not None:
            value = literal[1:-1]
        else:
            value = _inline(inline)
            if value is None:
                return None
        current[key] = value
        path = (*table, key)
        first.setdefault(path, number)
        defined.setdefault(path, number)
    return root, lines


def _inline(text: str) -> dict[str, object] | None:
    """The `{ a = 1, b = ["x"] }` inline table, or None when it is outside the subset."""
    end = len(text) - 1
    result: dict[str, object] = {}
    pos = 1
    while True:
        match = _INLINE_ITEM.match(text, pos)
        if match is None:
            return result if not result and not text[1:end].strip(" \t") else None
        key, jsonish, literal = match.groups()
        if key in result:
            return None
        result[key] = json.loads(jsonish) if jsonish is not None else literal[1:-1]
        pos = match.end()
        if pos == end:
            return result
        if text[pos] != ",":
            return None
        pos += 1
