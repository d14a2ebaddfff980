"""Find the compiler-style diagnostics in a failed task's output, for CI annotations.

CI systems can pin an error to a line of a file (GitHub's `::error file=,line=::`), which is
where a reader looks first; the tools a build runs already print that location, each in its own
dialect. This module reads the dialects of the common ones, as captured from the real tools in
`tests/data/`:

- gcc, clang, mypy, and anything else printing `path:line[:col]: [fatal ]error|warning: message`;
- ruff / flake8 / pylint concise lines, `path:line:col: CODE message`;
- ruff's (and rustc's) full form, a `CODE message` / `error[...]: message` line followed by
  ` --> path:line:col`;
- tsc, `path(line,col): error TS1234: message` and its `--pretty` form
  `path:line:col - error TS1234: message`;
- pytest's long tracebacks (`path:line: ExceptionType` after the `E   ...` lines of a failing
  test), falling back to the `FAILED path::test - message` summary lines;
- Python warnings, `path:line: SomethingWarning: message`.

Notes (`note:`) and context lines are not diagnostics and are skipped. Escape sequences are
dropped before matching, so coloured output parses too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..logs import strip_escapes

__all__ = ["Annotation", "parse_annotations"]

_PATH = r"(?P<path>[^\s:()'\"`][^:()'\"`]*?)"

# gcc, clang, mypy: src/a.c:6:17: error: expected ';' / src/a.py:13: error: ... [misc]
_COMPILER = re.compile(
    _PATH
    + r":(?P<line>\d+)(?::(?P<col>\d+))?:\s+(?:fatal )?(?P<severity>error|warning)"
    + r"(?:\[(?P<code>[^\]]+)\])?:\s*(?P<message>.+)$"
)
_TRAILING_CODE = re.compile(r"\s\[([-\w]+)\]$")
# ruff / flake8 concise, pylint: src/a.py:1:8: F401 [*] `os` imported but unused
_LINT = re.compile(
    _PATH + r":(?P<line>\d+):(?P<col>\d+):\s+(?P<code>[A-Z]{1,4}\d{2,5}):?\s+(?:\[\*\]\s+)?"
    r"(?P<message>.+)$"
)
# tsc: src/a.ts(5,7): error TS2322: ...   and --pretty: src/a.ts:5:7 - error TS2322: ...
_TSC = re.compile(
    _PATH + r"(?:\((?P<line>\d+),(?P<col>\d+)\):|:(?P<line2>\d+):(?P<col2>\d+) -)"
    r"\s+(?P<severity>error|warning)\s+(?P<code>TS\d+):\s*(?P<message>.+)$"
)
# ruff full / rustc: the message line, then " --> src/a.py:1:8"
_ARROW = re.compile(r"^\s*-->\s+" + _PATH + r":(?P<line>\d+)(?::(?P<col>\d+))?\s*$")
_ARROW_HEAD = re.compile(
    r"^(?:(?P<severity>error|warning)(?:\[(?P<rcode>[^\]]+)\])?|(?P<code>[A-Z]{1,4}\d{2,5}))"
    r":?\s+(?:\[\*\]\s+)?(?P<message>.+)$"
)
# Python warnings: src/a.py:3: DeprecationWarning: old api
_PY_WARNING = re.compile(_PATH + r":(?P<line>\d+): (?P<code>\w*Warning): (?P<message>.*)$")
# pytest: the crash location closing a failure's traceback, and the summary lines
_PYTEST_CRASH = re.compile(_PATH + r":(?P<line>\d+): (?P<code>[A-Za-z_][\w.]*)$")
_PYTEST_HEADER = re.compile(r"^_{3,} (?P<test>.+?) _{3,}$")
_PYTEST_E = re.compile(r"^E {2,}(?P<text>.*)$")
_PYTEST_FAILED = re.compile(
    r"^(?:FAILED|ERROR) (?P<path>[^\s:]+)::(?P<test>\S+)(?: - (?P<message>.*))?$"
)


@dataclass(frozen=True)
class Annotation:
    """One diagnostic: where, how bad, and what the tool said."""

    severity: str
    """"error" or "warning"."""
    path: str
    """As the tool printed it (relative to the task's working directory, or absolute)."""
    line: int | None
    col: int | None
    message: str
    code: str | None = None
    """The tool's rule or error code when it printed one: F401, TS2322, AssertionError, ..."""
    title: str | None = None
    """A short heading the tool gave (a failing pytest test's name)."""

    @property
    def key(self) -> tuple[str, str, int | None, int | None, str]:
        """What makes two annotations the same one (for de-duplication)."""
        return (self.severity, self.path, self.line, self.col, self.message)


def _int(value: str | None) -> int | None:
    return int(value) if value else None


def _looks_like_path(path: str) -> bool:
    # Avoid "ERROR 12:30:45" and friends: a path has a file-ish shape.
    return "." in path or "/" in path or path.startswith("<")


def parse_annotations(lines: Iterable[str]) -> Iterator[Annotation]:
    """Yield the diagnostics found in `lines` (as printed, in order; duplicates kept)."""
    previous = ""
    test: str | None = None
    e_lines: list[str] = []
    located: set[str] = set()  # tests whose traceback gave a line already
    failed: list[Annotation] = []
    for raw in lines:
        line = strip_escapes(raw).rstrip("\r\n")
        stripped = line.rstrip()
        if (found := _match(stripped, previous)) is not None:
            yield found
        elif header := _PYTEST_HEADER.match(stripped):
            test, e_lines = header.group("test"), []
        elif e := _PYTEST_E.match(stripped):
            e_lines.append(e.group("text").strip())
        elif (crash := _PYTEST_CRASH.match(stripped)) and _looks_like_path(crash["path"]):
            if e_lines:
                code = crash["code"]
                message = "\n".join(e_lines)
                if not message.startswith(code) and code != "AssertionError":
                    message = f"{code}: {message}"
                yield Annotation(
                    "error", crash["path"], int(crash["line"]), None, message, code, test
                )
                located.add(test or "")
                e_lines = []
        elif summary := _PYTEST_FAILED.match(stripped):
            name = summary["test"]
            failed.append(
                Annotation(
                    "error", summary["path"], None, None, summary["message"] or "failed", None, name
                )
            )
        if stripped:
            previous = stripped
    # A FAILED line only says which file: use it for tests no traceback located.
    for annotation in failed:
        if (annotation.title or "").replace("::", ".") not in located:
            yield annotation


def _match(line: str, previous: str) -> Annotation | None:
    if m := _TSC.match(line):
        return Annotation(
            m["severity"],
            m["path"],
            _int(m["line"] or m["line2"]),
            _int(m["col"] or m["col2"]),
            m["message"].strip(),
            m["code"],
        )
    if (m := _COMPILER.match(line)) and _looks_like_path(m["path"]):
        message = m["message"].strip()
        code = m["code"]
        if code is None and (tail := _TRAILING_CODE.search(message)):
            code = tail.group(1)  # mypy's "  [arg-type]", gcc's " [-Wunused-variable]"
        return Annotation(m["severity"], m["path"], _int(m["line"]), _int(m["col"]), message, code)
    if (m := _LINT.match(line)) and _looks_like_path(m["path"]):
        return Annotation(
            "error", m["path"], _int(m["line"]), _int(m["col"]), m["message"].strip(), m["code"]
        )
    if (m := _ARROW.match(line)) and (head := _ARROW_HEAD.match(previous)):
        severity = head["severity"] or "error"
        return Annotation(
            severity,
            m["path"],
            _int(m["line"]),
            _int(m["col"]),
            head["message"].strip(),
            head["code"] or head["rcode"],
        )
    if (m := _PY_WARNING.match(line)) and _looks_like_path(m["path"]):
        return Annotation(
            "warning",
            m["path"],
            _int(m["line"]),
            None,
            f"{m['code']}: {m['message'].strip()}",
            m["code"],
        )
    return None
