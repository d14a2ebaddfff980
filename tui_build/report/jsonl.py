"""`--events FILE`: every engine event as one JSON object per line (schema version 1).

Each line is `{"v": 1, "type": "<EventClass>", ...fields}` with the dataclass fields of
:mod:`tui_build.events` (enums as their string values, nested dataclasses as objects). The file
is flushed at every state change, so it can be tailed while the build runs.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path
from typing import Any

from ..events import Event, TaskOutput

SCHEMA_VERSION = 1


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def event_to_dict(event: Event) -> dict[str, Any]:
    """The JSON form of one event."""
    doc: dict[str, Any] = {"v": SCHEMA_VERSION, "type": type(event).__name__}
    doc.update(_plain(event))
    return doc


class JsonLinesWriter:
    """An engine subscriber that appends every event to a file as a JSON line."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the run

    def __call__(self, event: Event) -> None:
        self._file.write(json.dumps(event_to_dict(event), ensure_ascii=False) + "\n")
        if not isinstance(event, TaskOutput):
            self._file.flush()

    def close(self) -> None:
        self._file.close()
