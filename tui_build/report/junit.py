"""`--junit FILE`: the build as JUnit XML, which every CI system and test dashboard can read.

A fold over the events (:class:`RunSummary`), written when the build finishes (and again if
commands resume it). The mapping:

- one `<testsuite>` per task group, one `<testcase>` per task: `classname` is the group, `name`
  the task, `time` the seconds it ran;
- failed: `<failure message="exited with status 2" type="exit">` whose body is the traceback
  (for a Python callable) and the last lines of output; the output tail is also the case's
  `<system-out>`;
- up to date and blocked: `<skipped message="...">` with the reason ("up to date", "dependency
  failed: compile[a.c]") — they did not run, and nothing is wrong with them;
- cancelled: `<error type="cancelled">`, not skipped. The build exits 1 when a task is cancelled,
  and a report that shows green for a red build would be a lie; "error" is JUnit's word for a
  case that could not complete, which is what a cancel is (a cancel is not a failure of the
  task's own check, hence not `<failure>`).

Task output can hold bytes XML 1.0 forbids (escape sequences, NULs); they are dropped.
"""

from __future__ import annotations

import os
import re
import socket
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from ..events import BuildFinished, Event, RunSummary, TaskRecord, TaskState
from ..logs import read_tail, strip_escapes

__all__ = ["JUnitWriter", "junit_tree", "write_junit"]

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
TAIL_LINES = 100


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", strip_escapes(text))


def _tail(record: TaskRecord, lines: int) -> str:
    if not record.log_path:
        return ""
    tail = read_tail(record.log_path, lines)
    return "\n".join(tail) + ("\n" if tail else "")


def _case(record: TaskRecord, tail_lines: int) -> tuple[ET.Element, str]:
    """The `<testcase>` of a task, and its outcome: passed, failure, error or skipped."""
    info = record.info
    case = ET.Element(
        "testcase",
        {"classname": info.group, "name": info.name, "time": f"{record.duration or 0.0:.3f}"},
    )
    state = record.state
    output = _tail(record, tail_lines)
    outcome = "passed"
    if state is TaskState.FAILED:
        failure = record.failure
        message = failure.message if failure else "failed"
        element = ET.SubElement(
            case,
            "failure",
            {"message": _xml_text(message), "type": str(failure.kind) if failure else "failed"},
        )
        body = []
        if info.command:
            body.append(f"$ {info.command}\n")
        if failure is not None and failure.traceback:
            body.append(failure.traceback.rstrip("\n") + "\n")
        if output:
            body.append(f"last lines of output ({record.log_path}):\n{output}")
        element.text = _xml_text("".join(body))
        outcome = "failure"
    elif state is TaskState.CANCELLED:
        ET.SubElement(
            case,
            "error",
            {
                "message": _xml_text(f"cancelled: {record.reason or 'cancelled'}"),
                "type": "cancelled",
            },
        )
        outcome = "error"
    elif state in (TaskState.UP_TO_DATE, TaskState.BLOCKED) or not state.finished:
        reason = record.reason or ("up to date" if state is TaskState.UP_TO_DATE else "not run")
        word = {TaskState.UP_TO_DATE: "up to date", TaskState.BLOCKED: "blocked"}.get(
            state, "not run"
        )
        message = reason if reason.startswith(word) else f"{word}: {reason}"
        ET.SubElement(case, "skipped", {"message": _xml_text(message)})
        outcome = "skipped"
    if output:
        ET.SubElement(case, "system-out").text = _xml_text(output)
    return case, outcome


def junit_tree(summary: RunSummary, tail_lines: int = TAIL_LINES) -> ET.ElementTree:
    """The JUnit XML document of a (finished) build."""
    timestamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(summary.started or time.time()))
    hostname = socket.gethostname()
    root = ET.Element("testsuites", {"name": "tuibuild"})
    groups: dict[str, list[TaskRecord]] = {}
    for record in summary.tasks.values():
        groups.setdefault(record.info.group, []).append(record)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for group, records in groups.items():
        suite = ET.SubElement(root, "testsuite", {"name": group})
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        seconds = 0.0
        for record in records:
            case, outcome = _case(record, tail_lines)
            suite.append(case)
            counts["tests"] += 1
            if outcome == "failure":
                counts["failures"] += 1
            elif outcome == "error":
                counts["errors"] += 1
            elif outcome == "skipped":
                counts["skipped"] += 1
            seconds += record.duration or 0.0
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{seconds:.3f}")
        suite.set("timestamp", timestamp)
        suite.set("hostname", hostname)
        properties = ET.Element("properties")
        for key, text in (("run_id", summary.run_id), ("build_file", summary.build_file)):
            ET.SubElement(properties, "property", {"name": key, "value": text})
        suite.insert(0, properties)
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{summary.elapsed:.3f}")
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(summary: RunSummary, path: Path, tail_lines: int = TAIL_LINES) -> None:
    """Write the report atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    junit_tree(summary, tail_lines).write(temporary, encoding="utf-8", xml_declaration=True)
    os.replace(temporary, path)


class JUnitWriter:
    """An engine subscriber that writes the JUnit report each time the build finishes."""

    def __init__(self, path: Path, tail_lines: int = TAIL_LINES) -> None:
        self.path = path
        self.tail_lines = tail_lines
        self.summary = RunSummary()

    def __call__(self, event: Event) -> None:
        self.summary.apply(event)
        if isinstance(event, BuildFinished):
            write_junit(self.summary, self.path, self.tail_lines)
