"""Runners with real processes: output streaming, failure kinds, and killing whole process trees."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

import tui_build
from tui_build.events import Failure, FailureKind, Stream
from tui_build.runners import CommandRunner, LocalRunner, PythonRunner, native
from tui_build.runners.base import Job, Outcome
from tui_build.runners.procs import new_token
from tui_build.subreaper import become_subreaper

PY = sys.executable


class Sink:
    """Records everything a runner reports."""

    def __init__(self) -> None:
        self.pids: list[int | None] = []
        self.chunks: list[tuple[Stream, bytes]] = []
        self.samples: list[tuple[float, int, int]] = []

    def started(self, pid: int | None) -> None:
        self.pids.append(pid)

    def output(self, stream: Stream, data: bytes) -> None:
        self.chunks.append((stream, data))

    def sample(self, cpu_percent: float, rss_bytes: int, processes: int) -> None:
        self.samples.append((cpu_percent, rss_bytes, processes))

    def data(self, stream: Stream) -> bytes:
        return b"".join(data for s, data in self.chunks if s is stream)

    @property
    def stdout(self) -> bytes:
        return self.data(Stream.STDOUT)

    @property
    def stderr(self) -> bytes:
        return self.data(Stream.STDERR)

    @property
    def pid(self) -> int:
        pid = self.pids[-1]
        assert pid is not None
        return pid


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def make_job(root: Path, **kwargs: Any) -> Job:
    kwargs.setdefault("cwd", root)
    kwargs.setdefault("env", dict(os.environ, PYTHONUNBUFFERED="1"))
    return Job(task="t", root=root, **kwargs)


def gone(pid: int) -> bool:
    """Not running; not even a zombie left for tuibuild to reap."""
    return not psutil.pid_exists(pid)


def reported_pids(sink: Sink) -> set[int]:
    pids: set[int] = set()
    for line in sink.stdout.decode().splitlines():
        if line.startswith("pid "):
            pids.update(int(word) for word in line.split()[1:])
    return pids


@pytest.fixture(scope="module", autouse=True)
def _subreaper() -> None:
    become_subreaper()  # as the CLI does, so double-forked daemons are re-parented to us


@pytest.fixture(params=["helper", "posix_spawn", "popen"])
def commands(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> CommandRunner:
    """Each command test runs three times: through the spawn helper (the native process that
    starts, reads and reaps commands), and from Python in tuibuild's own folder (where
    commands are started with posix_spawn) and in another one (subprocess.Popen)."""
    if request.param == "helper":
        assert native.available(), "the spawn helper was not built (hatch_build.py)"
    else:
        monkeypatch.setenv(native.DISABLE_ENV, "0")
    if request.param == "posix_spawn":
        monkeypatch.chdir(tmp_path)
    return CommandRunner(kill_grace=0.4, drain_timeout=0.5, sample_interval=0.05)


@pytest.fixture
async def pool() -> AsyncIterator[PythonRunner]:
    runner = PythonRunner(1, kill_grace=0.4, drain_timeout=0.5, sample_interval=0.05)
    yield runner
    await runner.close()
    assert not runner.worker_pids


# ---------------------------------------------------------------------------------------------
# Commands


async def test_stdout_and_stderr_are_kept_apart_and_in_order(
    tmp_path: Path, commands: CommandRunner
) -> None:
    script = (
        "import sys\nfor i in range(2000):\n    print('out', i); print('err', i, file=sys.stderr)"
    )
    sink = Sink()
    outcome = await commands.run(make_job(tmp_path, argv=(PY, "-c", script)), sink)
    assert outcome.ok
    assert sink.pids and sink.pids[0] is not None and len(sink.pids) == 1
    assert sink.stdout.decode().splitlines() == [f"out {i}" for i in range(2000)]
    assert sink.stderr.decode().splitlines() == [f"err {i}" for i in range(2000)]


async def test_bytes_are_forwarded_verbatim(tmp_path: Path, commands: CommandRunner) -> None:
    sink = Sink()
    command = r"printf 'step 1\rstep 2\r\377\376 done'; printf 'no newline' >&2"
    outcome = await commands.run(make_job(tmp_path, shell_command=command), sink)
    assert outcome.ok
    assert sink.stdout == b"step 1\rstep 2\r\xff\xfe done"
    assert sink.stderr == b"no newline"


async def test_a_single_8_mb_line_arrives_whole(tmp_path: Path, commands: CommandRunner) -> None:
    sink = Sink()
    script = "import sys; sys.stdout.write('x' * 8_000_000 + '\\n')"
    outcome = await commands.run(make_job(tmp_path, argv=(PY, "-c", script)), sink)
    assert outcome.ok
    assert sink.stdout == b"x" * 8_000_000 + b"\n"


async def test_exit_status(tmp_path: Path, commands: CommandRunner) -> None:
    outcome = await commands.run(make_job(tmp_path, shell_command="exit 3"), Sink())
    assert outcome.failure is not None
    assert outcome.failure.kind is FailureKind.EXIT
    assert outcome.failure.message == "exited with status 3"
    assert outcome.failure.exit_code == 3


async def test_killed_by_a_signal(tmp_path: Path, commands: CommandRunner) -> None:
    outcome = await commands.run(make_job(tmp_path, shell_command="kill -KILL $$"), Sink())
    assert outcome.failure is not None
    assert outcome.failure.kind is FailureKind.SIGNAL
    assert outcome.failure.message == "killed by signal SIGKILL"
    assert outcome.failure.signal == 9


async def test_command_not_found(tmp_path: Path, commands: CommandRunner) -> None:
    outcome = await commands.run(make_job(tmp_path, argv=("no-such-tool-xyz", "-v")), Sink())
    assert outcome.failure is not None
    assert outcome.failure.kind is FailureKind.NOT_FOUND
    assert outcome.failure.message == "command not found: no-such-tool-xyz"


async def test_missing_working_directory(tmp_path: Path, commands: CommandRunner) -> None:
    missing = tmp_path / "nowhere"
    job = make_job(tmp_path, argv=("true",), cwd=missing)
    outcome = await commands.run(job, Sink())
    assert outcome.failure is not None
    assert outcome.failure.kind is FailureKind.START
    assert outcome.failure.message == f"working directory does not exist: {missing}"


async def test_commands_in_our_own_folder_are_posix_spawned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[str] = []
    real = os.posix_spawnp

    def counting(path: str, *args: Any, **kwargs: Any) -> int:
        spawned.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "posix_spawnp", counting)
    monkeypatch.setenv(native.DISABLE_ENV, "0")
    monkeypatch.chdir(tmp_path)
    runner = CommandRunner()
    sink = Sink()
    # SIGPIPE is back to its default in the child: `yes` ends quietly when `head` is done.
    outcome = await runner.run(make_job(tmp_path, shell_command="yes | head -n 2"), sink)
    assert outcome.ok
    assert (sink.stdout, sink.stderr) == (b"y\ny\n", b"")
    assert spawned == ["/bin/sh"]
    (tmp_path / "sub").mkdir()
    assert (await runner.run(make_job(tmp_path, argv=("true",), cwd=tmp_path / "sub"), Sink())).ok
    assert spawned == ["/bin/sh"]  # another working directory: started by Popen


SPAWNER = """
import os, subprocess, sys, time
child = subprocess.Popen(["sleep", "1000"])
leader = subprocess.Popen(["sleep", "1000"], start_new_session=True)
r, w = os.pipe()
if os.fork() == 0:  # a daemon: double fork, own session, parent gone
    os.setsid()
    if os.fork() == 0:
        os.write(w, str(os.getpid()).encode())
        time.sleep(1000)
    os._exit(0)
os.wait()
daemon = int(os.read(r, 64))
print("pid", os.getpid(), child.pid, leader.pid, daemon, flush=True)
print("ready", flush=True)
time.sleep(1000)
"""

TREE = f"""
setsid sleep 1000 & echo "pid $!"
sleep 1000 & echo "pid $!"
{PY} spawner.py &
wait
"""


async def start_tree(tmp_path: Path, runner: CommandRunner, **kwargs: Any) -> tuple[Sink, Any]:
    (tmp_path / "spawner.py").write_text(SPAWNER)
    sink = Sink()
    task = asyncio.create_task(runner.run(make_job(tmp_path, shell_command=TREE, **kwargs), sink))
    await until(lambda: b"ready" in sink.stdout)
    return sink, task


async def test_timeout_kills_the_whole_tree(tmp_path: Path, commands: CommandRunner) -> None:
    sink, task = await start_tree(tmp_path, commands, timeout=2)
    pids = reported_pids(sink) | {sink.pid}
    assert len(pids) == 7 and all(psutil.pid_exists(pid) for pid in pids)
    outcome: Outcome = await task
    assert outcome.failure is not None
    assert outcome.failure.kind is FailureKind.TIMEOUT
    assert outcome.failure.message == "timed out after 2s"
    assert [pid for pid in pids if not gone(pid)] == []


async def test_cancel_kills_the_whole_tree(tmp_path: Path, commands: CommandRunner) -> None:
    sink, task = await start_tree(tmp_path, commands)
    pids = reported_pids(sink) | {sink.pid}
    assert len(pids) == 7
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [pid for pid in pids if not gone(pid)] == []


async def test_resources_of_the_tree_are_sampled(tmp_path: Path, commands: CommandRunner) -> None:
    sink = Sink()
    job = make_job(tmp_path, shell_command="sleep 1000 & sleep 1000 & echo ready; wait")
    task = asyncio.create_task(commands.run(job, sink))
    await until(lambda: b"ready" in sink.stdout and any(s[2] == 3 for s in sink.samples))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    cpu, rss, _ = next(s for s in sink.samples if s[2] == 3)
    assert cpu >= 0 and rss > 0


# ---------------------------------------------------------------------------------------------
# Python callables


def write_module(root: Path, name: str, source: str) -> Path:
    path = root / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


TOOLS = """\
import os, subprocess, sys, threading, time

def hello(name):
    print("hello", name)
    print("warning", file=sys.stderr)
    subprocess.run(["echo", "from a subprocess"])
    sys.stdout.flush()
    os.write(2, b"raw fd 2\\n")
    print("partial", end="")
    return {"name": name, "pid": os.getpid()}

def nothing():
    pass

def lock():
    return threading.Lock()

def fail(what):
    raise ValueError(f"bad {what}")

def die(how):
    if how == "exit":
        os._exit(3)
    if how == "kill":
        os.kill(os.getpid(), 9)
    import ctypes
    ctypes.string_at(0)

def hang():
    child = subprocess.Popen(["sleep", "1000"])
    print("pid", os.getpid(), child.pid, flush=True)
    time.sleep(1000)
"""


async def call(
    runner: PythonRunner, root: Path, target: str, *args: Any, **kw: Any
) -> tuple[Outcome, Sink]:
    sink = Sink()
    return await runner.run(make_job(root, call=target, args=args, **kw), sink), sink


async def call_failure(runner: PythonRunner, root: Path, target: str, *args: Any) -> Failure:
    outcome, _ = await call(runner, root, target, *args)
    assert outcome.failure is not None
    return outcome.failure


async def test_callable_output_streams_back_and_result_is_its_repr(
    tmp_path: Path, pool: PythonRunner
) -> None:
    write_module(tmp_path, "tools", TOOLS)
    outcome, sink = await call(pool, tmp_path, "tools:hello", "world")
    assert outcome.ok
    assert sink.stdout == b"hello world\nfrom a subprocess\npartial"
    assert sink.stderr == b"warning\nraw fd 2\n"
    assert outcome.result == repr({"name": "world", "pid": sink.pid})


async def test_results_none_and_unpicklable(tmp_path: Path, pool: PythonRunner) -> None:
    write_module(tmp_path, "tools", TOOLS)
    none, _ = await call(pool, tmp_path, "tools:nothing")
    assert none == Outcome()
    lock, _ = await call(pool, tmp_path, "tools:lock")
    assert lock.ok
    assert lock.result is not None and lock.result.startswith("<unlocked _thread.lock")


async def test_exception_comes_back_with_traceback_and_frames(
    tmp_path: Path, pool: PythonRunner
) -> None:
    path = write_module(tmp_path, "tools", TOOLS)
    failure = await call_failure(pool, tmp_path, "tools:fail", "input")
    assert failure.kind is FailureKind.EXCEPTION
    assert failure.message == "ValueError: bad input"
    assert failure.exception_type == "ValueError"
    assert failure.traceback is not None
    assert 'raise ValueError(f"bad {what}")' in failure.traceback
    assert failure.traceback.rstrip().endswith("ValueError: bad input")
    assert "tui_build" not in failure.traceback
    (frame,) = failure.frames
    line = TOOLS.splitlines().index('    raise ValueError(f"bad {what}")') + 1
    assert (frame.filename, frame.lineno, frame.name) == (str(path), line, "fail")


async def test_callable_in_a_missing_working_directory(tmp_path: Path, pool: PythonRunner) -> None:
    write_module(tmp_path, "tools", TOOLS)
    missing = tmp_path / "nowhere"
    outcome, _ = await call(pool, tmp_path, "tools:nothing", cwd=missing)
    assert outcome.failure is not None
    assert outcome.failure.kind is FailureKind.START
    assert outcome.failure.message == f"working directory does not exist: {missing}"


async def test_import_errors_are_clear(tmp_path: Path, pool: PythonRunner) -> None:
    write_module(tmp_path, "tools", TOOLS)
    write_module(tmp_path, "broken", "def run(:\n    pass\n")
    missing = await call_failure(pool, tmp_path, "nowhere.tools:run")
    assert missing.kind is FailureKind.EXCEPTION
    assert missing.message == (
        f"cannot import module 'nowhere.tools' from {tmp_path}: "
        "ModuleNotFoundError: No module named 'nowhere'"
    )
    no_function = await call_failure(pool, tmp_path, "tools:run")
    assert no_function.kind is FailureKind.EXCEPTION
    assert no_function.message == "module 'tools' has no function 'run'"
    syntax = await call_failure(pool, tmp_path, "broken:run")
    assert syntax.message.startswith(f"cannot import module 'broken' from {tmp_path}: SyntaxError")
    assert (syntax.frames[-1].filename, syntax.frames[-1].lineno) == (
        str(tmp_path / "broken.py"),
        1,
    )


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("exit", "worker process died (exit status 3)"),
        ("kill", "worker process died (killed by signal SIGKILL)"),
        ("segfault", "worker process died (killed by signal SIGSEGV)"),
    ],
)
async def test_a_dying_worker_fails_only_its_task(
    tmp_path: Path, pool: PythonRunner, how: str, message: str
) -> None:
    write_module(tmp_path, "tools", TOOLS)
    dead, dead_sink = await call(pool, tmp_path, "tools:die", how)
    assert dead.failure is not None
    assert dead.failure.kind is FailureKind.WORKER_DIED
    assert dead.failure.message == message
    if how == "segfault":
        assert b"Segmentation fault" in dead_sink.stderr  # faulthandler's report reaches the log
    assert gone(dead_sink.pid)
    after, after_sink = await call(pool, tmp_path, "tools:hello", "again")
    assert after.ok
    assert after_sink.pid != dead_sink.pid


async def start_hang(root: Path, runner: PythonRunner, **kwargs: Any) -> tuple[Sink, Any]:
    write_module(root, "tools", TOOLS)
    sink = Sink()
    job = make_job(root, call="tools:hang", **kwargs)
    task = asyncio.create_task(runner.run(job, sink))
    await until(lambda: b"pid" in sink.stdout)
    return sink, task


async def test_callable_timeout_kills_the_worker_tree(tmp_path: Path, pool: PythonRunner) -> None:
    # A warm worker: on a loaded machine a cold one may spend the whole 1.5 s starting up.
    write_module(tmp_path, "tools", TOOLS)
    assert (await call(pool, tmp_path, "tools:nothing"))[0].ok
    sink, task = await start_hang(tmp_path, pool, timeout=1.5)
    pids = reported_pids(sink)
    assert sink.pid in pids and len(pids) == 2
    outcome: Outcome = await task
    assert outcome.failure is not None
    assert outcome.failure.kind is FailureKind.TIMEOUT
    assert outcome.failure.message == "timed out after 1.5s"
    assert [pid for pid in pids if not gone(pid)] == []
    assert (await call(pool, tmp_path, "tools:nothing"))[0].ok


async def test_callable_cancel_kills_the_worker_tree(tmp_path: Path, pool: PythonRunner) -> None:
    sink, task = await start_hang(tmp_path, pool)
    pids = reported_pids(sink)
    await until(lambda: any(s[2] == 2 for s in sink.samples))  # the worker and its `sleep`
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [pid for pid in pids if not gone(pid)] == []
    assert (await call(pool, tmp_path, "tools:nothing"))[0].ok


async def test_an_edited_module_is_reloaded_in_the_same_worker(
    tmp_path: Path, pool: PythonRunner
) -> None:
    write_module(tmp_path, "helper", "VALUE = 1\n")
    write_module(tmp_path, "edited", "import helper\ndef run():\n    return helper.VALUE\n")
    first, first_sink = await call(pool, tmp_path, "edited:run")
    assert first.result == "1"
    write_module(tmp_path, "helper", "VALUE = 2\n")  # same size, same second: a pyc would lie
    second, second_sink = await call(pool, tmp_path, "edited:run")
    assert second.result == "2"
    assert second_sink.pid == first_sink.pid


async def test_pool_runs_at_most_jobs_workers_and_reuses_them(tmp_path: Path) -> None:
    write_module(tmp_path, "tools", TOOLS)
    runner = PythonRunner(2)
    try:
        sinks = [Sink() for _ in range(6)]
        jobs = [make_job(tmp_path, call="tools:nothing") for _ in sinks]
        outcomes = await asyncio.gather(
            *(runner.run(j, s) for j, s in zip(jobs, sinks, strict=True))
        )
        assert all(outcome.ok for outcome in outcomes)
        assert len({sink.pid for sink in sinks}) == 2
    finally:
        await runner.close()


async def test_local_runner_dispatches_commands_and_callables(tmp_path: Path) -> None:
    write_module(tmp_path, "tools", TOOLS)
    runner = LocalRunner(2)
    try:
        command, callable_ = Sink(), Sink()
        ran = await runner.run(make_job(tmp_path, argv=("echo", "hi")), command)
        called = await runner.run(make_job(tmp_path, call="tools:hello", args=("x",)), callable_)
        assert ran.ok and command.stdout == b"hi\n"
        assert called.ok and callable_.stdout.startswith(b"hello x\n")
    finally:
        await runner.close()


ORPHANING_PARENT = """
import asyncio, os, sys
from pathlib import Path
from tui_build.runners import PythonRunner
from tui_build.runners.base import Job

class Sink:
    def started(self, pid):
        print("worker", pid, flush=True)
    seen = b""
    def output(self, stream, data):
        Sink.seen += data
        if Sink.seen.endswith(b"\\n"):
            sys.stdout.write(Sink.seen.decode())
            sys.stdout.flush()
            os._exit(0)  # dies with one worker idle and one busy
    def sample(self, *values):
        pass

async def main():
    root = Path(sys.argv[1])
    idle, busy = PythonRunner(1), PythonRunner(1)
    await idle.run(Job("a", root, dict(os.environ), call="tools:nothing", root=root), Sink())
    await busy.run(Job("b", root, dict(os.environ), call="tools:hang", root=root), Sink())

asyncio.run(main())
"""


async def test_workers_die_with_their_parent(tmp_path: Path) -> None:
    write_module(tmp_path, "tools", TOOLS)
    env = dict(os.environ, PYTHONPATH=str(Path(tui_build.__file__).parents[1]))
    parent = await asyncio.create_subprocess_exec(
        PY, "-c", ORPHANING_PARENT, str(tmp_path), env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await parent.communicate()
    pids = {int(word) for line in out.decode().splitlines() for word in line.split()[1:]}
    assert len(pids) == 3  # the idle worker, the busy one and the `sleep` it started

    def running(pid: int) -> bool:
        try:
            return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return False

    await until(lambda: not any(running(pid) for pid in pids))
    for pid in pids:  # orphans were re-parented to this (subreaper) process
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_task_tokens_are_unique_here_and_in_a_forked_child() -> None:
    mine = {new_token() for _ in range(1000)}
    assert len(mine) == 1000
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(w, " ".join(new_token() for _ in range(1000)).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        theirs = set(f.read().decode().split())
    os.waitpid(pid, 0)
    assert len(theirs) == 1000 and not theirs & mine
