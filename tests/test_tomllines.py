"""The fast TOML path agrees with `tomllib` and `scan` on every document, or steps aside."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

from tui_build.tomllines import parse_simple, scan

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

KEYS = ["a", "b", "tasks", "x-1", "cmd", "deps", "9"]
VALUES = [
    '"plain"', '"é ü ☃"', '"quote \\" inside"', '"tab \\t and \\\\"', '"\\u00e9"', '"bad \\q"',
    '"\\e"', '"tab\there"', "'literal \\n kept'", "'it''s'", '""', "''", "0", "42", "-7", "+3",
    "01", "1_000", "1.5", "1e3", "99999999999999999999", "true", "false", "True", "nan",
    '["a", "b"]', "[]", "[ 1 , 2 ]", '["a",]', "[[1], [2]]", '["a", 1, true]', "['x', \"y\"]",
    "{}", "{ a = 1 }", '{ a = ["x", "y"], b = "z" }', "{ a = 1, a = 2 }", "{ a = 1, }",
    '{ a = "}" }', "{ a.b = 1 }", "[", '"unterminated', "2026-12-02", '"""multi"""',
]


def random_line(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.2:
        parts = [rng.choice(KEYS) for _ in range(rng.randint(1, 3))]
        header = f"[{'.'.join(parts)}]"
        if rng.random() < 0.1:
            header = f"[{header}]"
        elif rng.random() < 0.1:
            header = header.replace("[", '["', 1).replace("]", '"]', 1)
        return header + rng.choice(["", "  # note", " "])
    if roll < 0.3:
        return rng.choice(["", "# comment", "   ", "\t# [not a header]", "junk", "a.b = 1"])
    key = rng.choice(KEYS)
    value = rng.choice(VALUES)
    spacing = rng.choice(["=", " = ", "\t=  "])
    return rng.choice(["", " "]) + key + spacing + value + rng.choice(["", " # why", "  "])


def canonical(document: object) -> str:
    # json tells True from 1, which == does not
    return json.dumps(document, sort_keys=True)


def test_fast_path_equals_tomllib_and_scan_or_declines() -> None:
    rng = random.Random(2026)
    accepted = rejected_by_tomllib = 0
    for _ in range(4000):
        lines = [random_line(rng) for _ in range(rng.randint(1, 8))]
        text = rng.choice(["\n", "\r\n"] if rng.random() < 0.05 else ["\n"]).join(lines)
        fast = parse_simple(text)
        try:
            expected = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            rejected_by_tomllib += 1
            assert fast is None, text
            continue
        if fast is None:
            continue
        accepted += 1
        document, found = fast
        assert canonical(document) == canonical(expected), text
        scanned = scan(text)
        assert (found.first, found.defined, found.duplicates) == (
            scanned.first,
            scanned.defined,
            scanned.duplicates,
        ), text
    # Both outcomes were exercised many times, so neither assertion above passed vacuously.
    assert accepted > 400
    assert rejected_by_tomllib > 400


@pytest.mark.parametrize(
    "text",
    [
        "[tasks.a]\ncmd = 1\n[tasks.a]\n",  # a table twice: the scan reports the duplicate
        "a = 1\n[a]\n",  # a header over a key's value
        "[t]\nx = { a = 1 }\n[t.x]\n",  # an inline table cannot be extended
        "[a.b]\n[a]\nb = 1\n",  # a key over a header's table
        "a = [\n  1,\n]\n",  # multi-line arrays are left to tomllib
        "a = 1.5\n",
    ],
)
def test_fast_path_declines(text: str) -> None:
    assert parse_simple(text) is None


def test_fast_path_reads_the_demo_and_generated_files() -> None:
    parts = [f'[tasks.t{i}]\ncmd = ["true"]\ndeps = ["t{i - 1}"]\n' for i in range(1, 50)]
    text = '[build]\njobs = 2\n\n[tasks.t0]\ncmd = ["true"]\n' + "\n".join(parts)
    fast = parse_simple(text)
    assert fast is not None
    assert fast[0] == tomllib.loads(text)
    assert fast[1].of("tasks", "t3") == text.split("\n").index("[tasks.t3]") + 1
    demo = (Path(__file__).parent.parent / "build.toml.example").read_text()
    fast = parse_simple(demo)
    assert fast is not None
    assert fast[0] == tomllib.loads(demo)
