"""`.tuibuild/state.db`: run history, task results, fingerprints and durations, safe across kills.

The store is what makes a second build cheap and a past build answerable. It is one SQLite
database in WAL mode next to the build file, written in batched transactions (a 10,000-task build
costs a handful of commits, not 10,000), versioned with `PRAGMA user_version` and migrated in
order. Three promises hold whatever happens to the process:

- a `kill -9` leaves a database that opens (SQLite's own journal), the run is marked interrupted
  at the next start, and a task that was running is never counted as up to date (its start is
  appended to `.tuibuild/journal` before its process starts; see :meth:`Store.recover_journal`);
- two builds never share a store: :meth:`Store.lock` takes an exclusive `flock` on
  `.tuibuild/lock` and names the holder's pid when it is taken;
- a corrupt database is moved aside (`state.db.corrupt-<time>`) with a warning, and the build
  proceeds with an empty one; the logs are untouched.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import operator
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .store_schema import (
    DB_NAME,
    KEEP_RUN_ROWS,
    RESULT_COLUMNS,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    STORE_DIR,
    FingerprintRecord,
    ResultRecord,
    RunRecord,
    StoreError,
    StoreLocked,
    migrate,
    pid_alive,
    run_from_row,
)

__all__ = [
    "SCHEMA_VERSION",
    "FingerprintRecord",
    "ResultRecord",
    "RunRecord",
    "Store",
    "StoreError",
    "StoreLocked",
    "store_dir",
]

LOCK_NAME = "lock"
JOURNAL_NAME = "journal"


def store_dir(build_file: Path) -> Path:
    """The `.tuibuild` folder that belongs to a build file."""
    return Path(os.path.abspath(build_file)).parent / STORE_DIR


def read_journal(path: Path) -> list[str]:
    """The tasks a build started and did not see to a committed end, from its journal.

    Committing "this task is running" before every start would cost a commit per task, so each
    start is one append to `.tuibuild/journal` instead (a `kill -9` keeps what was written):
    `S task` before a task starts, `D task` when its success or failure is queued, `C` after
    each commit. A start not followed by a committed `D` was cut short.
    """
    started: set[str] = set()
    done: set[str] = set()
    try:
        lines = path.read_bytes().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    for line in lines:
        kind, _, task = line.partition("\t")
        if kind == "S":
            started.add(task)
            done.discard(task)
        elif kind == "D":
            done.add(task)
        elif kind == "C":
            started -= done
            done.clear()
    return sorted(started)


def _warn(message: str) -> None:
    print(f"tuibuild: warning: {message}", file=sys.stderr)


class Store:
    """One open `state.db`. Writes are queued and committed together by :meth:`flush`."""

    def __init__(self, directory: Path, conn: sqlite3.Connection) -> None:
        self.directory = directory
        self.conn = conn
        self.broken = False
        self._pending: list[tuple[str, Sequence[Any]]] = []
        self._lock_fd: int | None = None
        self._journal: int | None = None
        self._journal_dirty = False

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path, *, warn: Callable[[str], None] = _warn) -> Store:
        """Open (creating it) the store in `directory`; a corrupt database is moved aside."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / DB_NAME
        try:
            return cls(directory, _connect(path))
        except StoreError:
            raise
        except sqlite3.DatabaseError as exc:
            aside = path.with_name(f"{DB_NAME}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                os.replace(path, aside)
            except OSError as move:
                raise StoreError(
                    f"{path} is unreadable ({exc}) and cannot be moved aside: {move.strerror}"
                ) from None
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.replace(f"{path}{suffix}", f"{aside}{suffix}")
            warn(f"{path} was unreadable ({exc}); moved it to {aside.name} and started afresh")
            return cls(directory, _connect(path))

    @classmethod
    def open_existing(cls, directory: Path) -> Store | None:
        """Open for reading (history, logs); None when no build has recorded anything yet."""
        path = directory / DB_NAME
        if not path.exists():
            return None
        try:
            return cls(directory, _connect(path))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read {path}: {exc}") from None

    def lock(self) -> None:
        """Hold `.tuibuild/lock` until the process ends, or raise :class:`StoreLocked`."""
        import fcntl

        path = self.directory / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreLocked(
                f"another tuibuild (pid {holder}) is running in {self.directory.parent}; "
                "wait for it to finish, or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def close(self) -> None:
        self.flush()
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
        if self._journal is not None:
            os.close(self._journal)
            self._journal = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- batched writes ---------------------------------------------------------------------

    def queue(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Write later, in the next :meth:`flush`'s transaction (in the order queued)."""
        if not self.broken:
            self._pending.append((sql, params))

    def flush(self) -> None:
        """Commit everything queued in one transaction. An I/O error disables the store."""
        if not self._pending or self.broken:
            return
        pending, self._pending = self._pending, []
        try:
            with _transaction(self.conn):
                # Runs of the same statement go through one executemany (in queue order).
                for sql, group in itertools.groupby(pending, key=operator.itemgetter(0)):
                    self.conn.executemany(sql, [params for _, params in group])
        except sqlite3.Error as exc:
            self.broken = True
            _warn(f"cannot write {self.directory / DB_NAME} ({exc}); this run is not recorded")
            return
        if self._journal_dirty and self._journal is not None:
            os.write(self._journal, b"C\n")
            self._journal_dirty = False

    # -- the start journal ------------------------------------------------------------------

    def recover_journal(self) -> list[str]:
        """Mark every task the last (killed) process started and never finished as interrupted,
        then start a fresh journal. Call with the lock held. Returns those tasks."""
        path = self.directory / JOURNAL_NAME
        cut_short = read_journal(path)
        for task in cut_short:
            self.set_status(task, "running")
        self.flush()
        self._journal = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        return cut_short

    def journal_start(self, task: str) -> None:
        """Note (durably against kill -9, without a commit) that the task is starting."""
        if self._journal is not None:
            os.write(self._journal, f"S\t{task}\n".encode())

    def journal_done(self, task: str) -> None:
        """Note that the task's end is queued (it counts once the next commit is noted)."""
        if self._journal is not None:
            os.write(self._journal, f"D\t{task}\n".encode())
            self._journal_dirty = True

    # -- runs -------------------------------------------------------------------------------

    def begin_run(
        self,
        run_id: str,
        *,
        start: float,
        argv: Sequence[str],
        targets: Sequence[str],
        build_file: str,
        log_dir: str,
        jobs: int,
        tasks: int,
    ) -> None:
        self.queue(
            "INSERT OR REPLACE INTO runs (id, pid, start, argv, targets, build_file, log_dir, jobs,"
            " tasks) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                os.getpid(),
                start,
                json.dumps(list(argv)),
                json.dumps(list(targets)),
                build_file,
                log_dir,
                jobs,
                tasks,
            ),
        )

    def resume_run(self, run_id: str) -> None:
        self.queue("UPDATE runs SET end = NULL, outcome = NULL WHERE id = ?", (run_id,))

    def finish_run(self, run_id: str, *, end: float, outcome: str, counts: dict[str, int]) -> None:
        self.queue(
            "UPDATE runs SET end = ?, outcome = ?, counts = ? WHERE id = ?",
            (end, outcome, json.dumps(counts), run_id),
        )

    def mark_interrupted(self) -> list[str]:
        """Runs that never finished and whose process is gone end "interrupted"; so do their
        running tasks. Call with the lock held. Returns the run ids."""
        rows = self.conn.execute("SELECT id, pid FROM runs WHERE end IS NULL").fetchall()
        dead = [run for run, pid in rows if pid != os.getpid() and not pid_alive(pid)]
        with _transaction(self.conn):
            for run in dead:
                last = self.conn.execute(
                    "SELECT MAX(start + COALESCE(duration, 0)) FROM results WHERE run = ?", (run,)
                ).fetchone()[0]
                self.conn.execute(
                    "UPDATE runs SET end = COALESCE(?, start), outcome = 'interrupted'"
                    " WHERE id = ?",
                    (last, run),
                )
                self.conn.execute(
                    "UPDATE results SET state = 'interrupted', reason = 'tuibuild was killed'"
                    " WHERE run = ? AND state IN ('running', 'ready', 'pending')",
                    (run,),
                )
        return dead

    def runs(self, limit: int = 20) -> list[RunRecord]:
        """The most recent runs, newest first."""
        rows = self.conn.execute(
            f"SELECT {RUN_COLUMNS} FROM runs ORDER BY start DESC, id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [run_from_row(row) for row in rows]

    def find_run(self, ref: str) -> RunRecord:
        """A run by id, unique id prefix, `last`, or `-N` (N runs back). Raises StoreError."""
        if ref == "last" or (ref.startswith("-") and ref[1:].isdigit()):
            back = 1 if ref == "last" else int(ref[1:])
            recent = self.runs(back)
            if len(recent) < back or back < 1:
                raise StoreError(f"no run {ref}: {len(recent)} run(s) recorded")
            return recent[back - 1]
        rows = self.conn.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY start DESC",
            (ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
        ).fetchall()
        exact = [row for row in rows if row[0] == ref]
        if exact or len(rows) == 1:
            return run_from_row((exact or rows)[0])
        if not rows:
            raise StoreError(f"no run '{ref}' (see 'tuibuild history')")
        shown = ", ".join(row[0] for row in rows[:5])
        raise StoreError(f"run '{ref}' is ambiguous: {shown}")

    def results(self, run_id: str) -> list[ResultRecord]:
        """A run's task records, in the order the tasks finished (running ones last)."""
        rows = self.conn.execute(
            f"SELECT {RESULT_COLUMNS} FROM results WHERE run = ? ORDER BY seq, task", (run_id,)
        ).fetchall()
        return [ResultRecord(*row) for row in rows]

    def task_results(self, task: str, run_id: str | None = None) -> list[ResultRecord]:
        """The task's records, newest run first (only `run_id`'s when given)."""
        where, params = (
            ("task = ?", [task]) if run_id is None else ("task = ? AND run = ?", [task, run_id])
        )
        rows = self.conn.execute(
            f"SELECT {RESULT_COLUMNS} FROM results WHERE {where} ORDER BY run DESC", params
        ).fetchall()
        return [ResultRecord(*row) for row in rows]

    def task_names(self) -> list[str]:
        return [row[0] for row in self.conn.execute("SELECT DISTINCT task FROM results")]

    # -- task results, fingerprints, durations ----------------------------------------------

    def put_result(self, run_id: str, seq: int, record: dict[str, Any]) -> None:
        """Insert or replace the task's row of this run; `record` maps result columns."""
        self.queue(_result_sql(tuple(record)), (run_id, seq, *record.values()))

    def fingerprints(self) -> dict[str, FingerprintRecord]:
        rows = self.conn.execute("SELECT task, status, command, inputs, outputs FROM fingerprints")
        return {
            task: FingerprintRecord(status, command, json.loads(inputs), json.loads(outputs))
            for task, status, command, inputs, outputs in rows
        }

    def put_fingerprint(self, task: str, record: FingerprintRecord) -> None:
        self.queue(
            "INSERT OR REPLACE INTO fingerprints (task, status, command, inputs, outputs, time)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                task,
                record.status,
                record.command,
                json.dumps(record.inputs),
                json.dumps(record.outputs),
                time.time(),
            ),
        )

    def set_status(self, task: str, status: str) -> None:
        """Mark the task's fingerprint (never up to date unless status is "ok")."""
        self.queue(
            "INSERT INTO fingerprints (task, status, time) VALUES (?, ?, ?)"
            " ON CONFLICT (task) DO UPDATE SET status = excluded.status, time = excluded.time",
            (task, status, time.time()),
        )

    def put_duration(self, task: str, seconds: float) -> None:
        self.queue(
            "INSERT OR REPLACE INTO durations (task, seconds) VALUES (?, ?)", (task, seconds)
        )

    def durations(self) -> dict[str, float]:
        """Seconds each task took the last time it succeeded (for priorities and ETAs)."""
        return dict(self.conn.execute("SELECT task, seconds FROM durations").fetchall())

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.queue("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- retention --------------------------------------------------------------------------

    def prune(self, keep_runs: int, logs_root: Path, keep: Iterable[str] = ()) -> None:
        """Only the newest `keep_runs` runs keep their log folders and task rows; runs beyond
        :data:`KEEP_RUN_ROWS` are forgotten. Stray folders in `logs_root` go too."""
        keep_runs = max(1, keep_runs)
        ids = [
            row[0] for row in self.conn.execute("SELECT id FROM runs ORDER BY start DESC, id DESC")
        ]
        kept = set(ids[:keep_runs]) | set(keep)
        old = [run for run in ids[keep_runs:] if run not in kept]
        with _transaction(self.conn):
            for run in old:
                self.conn.execute("DELETE FROM results WHERE run = ?", (run,))
                self.conn.execute("UPDATE runs SET logs_kept = 0, details = 0 WHERE id = ?", (run,))
            for run in ids[max(KEEP_RUN_ROWS, keep_runs) :]:
                if run not in kept:
                    self.conn.execute("DELETE FROM runs WHERE id = ?", (run,))
        if logs_root.is_dir():
            import shutil  # pruning is the only user; start-up need not import it

            for entry in logs_root.iterdir():
                if entry.is_dir() and entry.name not in kept:
                    shutil.rmtree(entry, ignore_errors=True)


@functools.lru_cache(maxsize=16)
def _result_sql(columns: tuple[str, ...]) -> str:
    """The statement for a result row with these columns (made once: a build has two kinds)."""
    names = ("run", "seq", *columns)
    return (
        f"INSERT OR REPLACE INTO results ({', '.join(names)})"
        f" VALUES ({', '.join('?' * len(names))})"
    )


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One explicit transaction (the connection is in autocommit mode otherwise)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode: a kill -9 loses nothing committed (only a power cut can lose the
        # last commits, never consistency), and a commit costs no fsync.
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn)
        conn.execute("SELECT count(*) FROM runs").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn
