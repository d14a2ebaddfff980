"""The store: schema and migrations, corruption, the lock, batching, retention, interrupted runs."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import FakeRunner

from tui_build import fastpath
from tui_build.engine import Engine
from tui_build.graph import _glob, build_graph
from tui_build.session import open_session
from tui_build.spec import parse_spec
from tui_build.store import SCHEMA_VERSION, Store, StoreError, StoreLocked


def test_a_new_store_is_wal_and_versioned(tmp_path: Path) -> None:
    store = Store.open(tmp_path / ".tuibuild")
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert fastpath.SCHEMA_VERSION == SCHEMA_VERSION
    store.close()


def test_a_store_from_a_newer_tuibuild_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / ".tuibuild"
    directory.mkdir()
    conn = sqlite3.connect(directory / "state.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer tuibuild"):
        Store.open(directory)


def test_a_corrupt_store_is_moved_aside_and_replaced(tmp_path: Path) -> None:
    directory = tmp_path / ".tuibuild"
    directory.mkdir()
    (directory / "state.db").write_bytes(b"this is not a database\x00" * 100)
    (directory / "logs").mkdir()
    (directory / "logs" / "keep.log").write_text("old log")
    warnings: list[str] = []
    store = Store.open(directory, warn=warnings.append)
    assert store.runs() == []
    store.close()
    assert len(warnings) == 1 and "moved it to state.db.corrupt-" in warnings[0]
    aside = list(directory.glob("state.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")
    assert (directory / "logs" / "keep.log").read_text() == "old log"


def test_the_lock_names_the_other_process(tmp_path: Path) -> None:
    directory = tmp_path / ".tuibuild"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys
            from pathlib import Path
            from tui_build.store import Store
            store = Store.open(Path({str(directory)!r}))
            store.lock()
            print("locked", flush=True)
            sys.stdin.read()
            """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        store = Store.open(directory)
        with pytest.raises(StoreLocked, match=f"pid {holder.pid}"):
            store.lock()
        store.close()
    finally:
        holder.communicate("", timeout=10)
    store = Store.open(directory)
    store.lock()  # free again once the holder is gone
    store.close()


async def test_ten_thousand_results_are_not_ten_thousand_commits(tmp_path: Path) -> None:
    toml = "".join(
        f'[tasks.t{i}]\ncmd = ["fake"]\ninputs = ["build.toml"]\noutputs = ["build.toml"]\n'
        for i in range(2000)
    )
    path = tmp_path / "build.toml"
    path.write_text(toml)
    graph = build_graph(parse_spec(toml, path)).select([])
    for force in (False, True):  # a first build, then a forced re-run of built tasks
        session = open_session(graph, argv=[], typed_targets=(), force=force)
        commits: list[str] = []
        session.store.conn.set_trace_callback(
            lambda sql, seen=commits: seen.append(sql) if sql.startswith("COMMIT") else None
        )
        engine = Engine(graph, FakeRunner(), jobs=4, run_id=session.run_id, checker=session.checker)
        session.attach(engine)
        assert await engine.run() == "succeeded"
        session.close()
        assert len(commits) < 20, len(commits)
    store = Store.open(tmp_path / ".tuibuild")
    assert len(store.results(store.runs(1)[0].id)) == 2000
    store.close()


def test_only_the_last_runs_keep_their_logs(tmp_path: Path) -> None:
    directory = tmp_path / ".tuibuild"
    logs = directory / "logs"
    store = Store.open(directory)
    for i in range(5):
        run = f"2026010{i}-000000-0000"
        (logs / run).mkdir(parents=True)
        store.begin_run(
            run, start=i, argv=[], targets=[], build_file="b", log_dir="l", jobs=1, tasks=1
        )
        store.put_result(run, 1, {"task": "t", "state": "succeeded"})
        store.finish_run(run, end=i + 1, outcome="succeeded", counts={"succeeded": 1})
    store.flush()
    (logs / "stray").mkdir()
    store.prune(2, logs)
    assert sorted(p.name for p in logs.iterdir()) == [
        "20260103-000000-0000",
        "20260104-000000-0000",
    ]
    runs = store.runs()
    assert len(runs) == 5  # the history itself stays
    assert [r.logs_kept for r in runs] == [True, True, False, False, False]
    assert store.results("20260100-000000-0000") == []
    store.close()


def test_a_run_whose_process_died_is_interrupted(tmp_path: Path) -> None:
    store = Store.open(tmp_path / ".tuibuild")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    store.queue("INSERT INTO runs (id, pid, start) VALUES ('r1', ?, 1.0)", (pid,))
    store.put_result("r1", 0, {"task": "t", "state": "running", "start": 2.0})
    store.flush()
    assert store.mark_interrupted() == ["r1"]
    run = store.find_run("r1")
    assert run.outcome == "interrupted" and run.end is not None
    assert store.results("r1")[0].state == "interrupted"
    store.close()


def test_runs_are_found_by_prefix_last_and_offset(tmp_path: Path) -> None:
    store = Store.open(tmp_path / ".tuibuild")
    for i, run in enumerate(["20260101-000000-aaaa", "20260102-000000-bbbb"]):
        store.begin_run(
            run, start=i, argv=[], targets=[], build_file="b", log_dir="l", jobs=1, tasks=0
        )
    store.flush()
    assert store.find_run("last").id == "20260102-000000-bbbb"
    assert store.find_run("-2").id == "20260101-000000-aaaa"
    assert store.find_run("20260101").id == "20260101-000000-aaaa"
    with pytest.raises(StoreError, match="ambiguous"):
        store.find_run("2026")
    with pytest.raises(StoreError, match="no run"):
        store.find_run("1999")
    store.close()


def test_the_fast_path_globs_exactly_like_the_graph(tmp_path: Path) -> None:
    for name in ("a.c", "b.c", "sub/c.c", "sub/deep/d.c", ".hidden.c", "dir.c/x"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    for pattern in ("*.c", "**/*.c", "sub/*.c", "sub/**", "[ab].c", "*.c/*"):
        assert fastpath._glob(pattern, str(tmp_path)) == _glob(pattern, tmp_path), pattern


@pytest.mark.parametrize(
    ("argv", "accepted"),
    [
        ([], True),
        (["all", "-j", "4", "-k", "--no-tui"], True),
        (["-fother.toml", "--directory=sub", "--output", "stream"], True),
        (["-n"], False),
        (["-B"], False),
        (["--failed"], False),
        (["--events", "x.jsonl"], False),
        (["history"], False),
        (["-j", "0"], False),
        (["--help"], False),
    ],
)
def test_the_fast_path_only_takes_plain_build_command_lines(
    argv: list[str], accepted: bool
) -> None:
    assert (fastpath.parse(argv) is not None) is accepted
