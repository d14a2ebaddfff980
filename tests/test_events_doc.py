"""docs/events.md documents schema v1 completely: every event, every field, every enum value."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

from tui_build import events
from tui_build.report.jsonl import SCHEMA_VERSION

DOC = (Path(__file__).parent.parent / "docs" / "events.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = DOC.index(f"### `{title}`")
    end = DOC.find("\n### ", start + 1)
    return DOC[start : end if end != -1 else len(DOC)]


def test_the_documented_version_is_the_written_one() -> None:
    assert f"schema version {SCHEMA_VERSION}" in DOC.splitlines()[0]


def test_every_event_type_and_field_is_documented() -> None:
    for event_type in typing.get_args(events.Event):
        text = section(event_type.__name__)
        for field in dataclasses.fields(event_type):
            if field.name != "time":  # common to every line, documented once
                assert re.search(rf"^\| `{field.name}` \|", text, re.M), (event_type, field.name)


def test_nested_records_and_enum_values_are_documented() -> None:
    for record in (events.TaskInfo, events.Failure, events.Frame):
        for field in dataclasses.fields(record):
            assert f"`{field.name}`" in DOC or field.name in DOC, (record, field.name)
    for enum in (events.TaskState, events.FailureKind, events.Stream):
        for member in enum:
            assert f"`{member.value}`" in DOC, member
