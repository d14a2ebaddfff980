"""What `.tuibuild/state.db` holds: the schema, its migrations and the records read back.

Kept apart from :mod:`tui_build.store` (which is about writing safely) so that the shape of the
data can be read in one place. A schema change is a new entry in :data:`MIGRATIONS`, never an
edit of a shipped one; `PRAGMA user_version` says how far a database has come.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

STORE_DIR = ".tuibuild"
DB_NAME = "state.db"
SCHEMA_VERSION = 1
KEEP_RUN_ROWS = 200
"""Runs beyond this many are forgotten entirely (their logs went long before)."""

_SCHEMA_V1 = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    pid INTEGER,
    start REAL NOT NULL,
    end REAL,
    argv TEXT NOT NULL DEFAULT '[]',
    targets TEXT NOT NULL DEFAULT '[]',
    build_file TEXT,
    log_dir TEXT,
    jobs INTEGER,
    outcome TEXT,
    counts TEXT NOT NULL DEFAULT '{}',
    tasks INTEGER NOT NULL DEFAULT 0,
    logs_kept INTEGER NOT NULL DEFAULT 1,
    details INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE results (
    run TEXT NOT NULL,
    task TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    exit_code INTEGER,
    signal INTEGER,
    failure_kind TEXT,
    message TEXT,
    start REAL,
    duration REAL,
    log_path TEXT,
    result TEXT,
    seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run, task)
) WITHOUT ROWID;
CREATE INDEX results_by_task ON results (task, run);
CREATE TABLE fingerprints (
    task TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    command TEXT NOT NULL DEFAULT '',
    inputs TEXT NOT NULL DEFAULT '[]',
    outputs TEXT NOT NULL DEFAULT '[]',
    time REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE durations (task TEXT PRIMARY KEY, seconds REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""

MIGRATIONS: tuple[str, ...] = (_SCHEMA_V1,)
"""MIGRATIONS[i] takes the schema from version i to i + 1. Append; never edit a shipped one."""


class StoreError(Exception):
    """The store cannot be used as asked (locked by another build, written by a newer tuibuild)."""


class StoreLocked(StoreError):
    """Another tuibuild holds `.tuibuild/lock`."""


@dataclass(frozen=True)
class RunRecord:
    id: str
    pid: int | None
    start: float
    end: float | None
    argv: list[str]
    targets: list[str]
    outcome: str | None
    counts: dict[str, int]
    tasks: int
    log_dir: str | None
    logs_kept: bool
    details: bool
    """False for a run answered by the no-op fast path: it has no per-task rows."""

    @property
    def duration(self) -> float | None:
        return None if self.end is None else max(0.0, self.end - self.start)


@dataclass(frozen=True)
class ResultRecord:
    run: str
    task: str
    state: str
    reason: str | None
    exit_code: int | None
    signal: int | None
    failure_kind: str | None
    message: str | None
    start: float | None
    duration: float | None
    log_path: str | None
    result: str | None


@dataclass(frozen=True)
class FingerprintRecord:
    status: str
    """"ok" after a success; "running", "failed" or "cancelled" otherwise (never up to date)."""
    command: str
    inputs: list[list[Any]]
    """[path, mtime_ns, size, sha256 or None] per input, as seen when the task started."""
    outputs: list[str]


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema to :data:`SCHEMA_VERSION`, one committed step per version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store was written by a newer tuibuild (schema {version}, this one knows "
            f"{SCHEMA_VERSION}); upgrade tuibuild or remove {STORE_DIR}/{DB_NAME}"
        )
    for step in range(version, SCHEMA_VERSION):
        conn.executescript(
            "BEGIN;" + MIGRATIONS[step] + f"PRAGMA user_version = {step + 1}; COMMIT;"
        )


RUN_COLUMNS = (
    "id, pid, start, end, argv, targets, outcome, counts, tasks, log_dir, logs_kept, details"
)
RESULT_COLUMNS = (
    "run, task, state, reason, exit_code, signal, failure_kind, message, start, duration,"
    " log_path, result"
)


def run_from_row(row: Sequence[Any]) -> RunRecord:
    run_id, pid, start, end, argv, targets, outcome, counts, tasks, log_dir, logs, details = row
    if end is None and outcome is None and not pid_alive(pid):
        outcome = "interrupted"
    return RunRecord(
        run_id,
        pid,
        start,
        end,
        json.loads(argv),
        json.loads(targets),
        outcome,
        json.loads(counts),
        tasks,
        log_dir,
        bool(logs),
        bool(details),
    )


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process nobody reaped yet is a zombie: dead for our purpose
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True
