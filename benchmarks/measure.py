"""Running one tool on one generated graph: wall time, exit status, peak memory of its processes.

Each run starts clean (no `.tuibuild/`, `.ninja_log`, `.doit.db`), so no tool is helped or
slowed by what an earlier run left. A tool's stdout goes to a file next to the graph
(`<tool>.out`, overwritten by every run): a file, as a CI runner's log would be, not /dev/null.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil

VENV_BIN = Path(sys.executable).parent
JOBS = 2

TOOLS: dict[str, list[str]] = {
    "tuibuild": [str(VENV_BIN / "tuibuild"), "--no-tui", "-j", str(JOBS)],
    "ninja": [str(VENV_BIN / "ninja"), "-j", str(JOBS)],
    "make": ["make", "-r", "-j", str(JOBS)],
    "doit": [str(VENV_BIN / "doit"), "-n", str(JOBS)],
    # Not a build tool: the floor under any Python runner (spawn and wait, nothing else).
    "pyfloor": [
        sys.executable,
        str(Path(__file__).with_name("pyfloor.py")),
        "graph.json",
        str(JOBS),
    ],
}
DEFAULT_TOOLS = ("tuibuild", "ninja", "make", "doit")

# The task commands themselves (and ninja's shell) are not the tool: their memory is not counted.
_COMMANDS = {"seq", "sh", "true", "sleep"}
_LEFTOVERS = (
    ".tuibuild",
    ".ninja_log",
    ".ninja_deps",
    ".doit.db",
    ".doit.db.db",
    ".doit.db.dat",
    ".doit.db.dir",
    ".doit.db.bak",
)


@dataclass(frozen=True)
class Result:
    wall: float
    returncode: int
    cpu: float = 0.0
    """Seconds of CPU (user + system) of the tool and every task it ran (wait4's rusage): less
    disturbed than wall time when other work shares the machine."""
    peak_rss: int | None = None
    """Bytes: the largest sum of RSS over the tool's processes seen while it ran (polled; 0 when
    it ended before the first poll)."""


def clean(folder: Path) -> None:
    for name in _LEFTOVERS:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()
    for out in folder.glob("*.out"):
        out.unlink()


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for proc in procs:
        try:
            if proc.name() not in _COMMANDS:
                total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


def run_tool(
    tool: str, folder: Path, *, memory: bool = False, poll: float = 0.05, timeout: float = 900
) -> Result:
    """Run `tool` in `folder` once; with `memory`, poll its process tree's RSS meanwhile."""
    clean(folder)
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    with open(folder / f"{tool}.out", "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            TOOLS[tool],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            try:
                root = psutil.Process(proc.pid)
            except psutil.Error:
                return
            while not done.wait(poll):
                peak = max(peak, _tree_rss(root))

        sampler = threading.Thread(target=sample, daemon=True) if memory else None
        if sampler is not None:
            sampler.start()
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        killer.cancel()
        proc.returncode = returncode = os.waitstatus_to_exitcode(status)
        done.set()
        if sampler is not None:
            sampler.join()
    # Not wait4's ru_maxrss: it counts the pages the child shared with this Python before exec.
    return Result(wall, returncode, usage.ru_utime + usage.ru_stime, peak if memory else None)


def run_bare(commands: Sequence[Sequence[str]], folder: Path, jobs: int = JOBS) -> Result:
    """The commands themselves, `jobs` at a time, each redirected to its own file."""
    clean(folder)

    def one(index: int) -> tuple[int, float]:
        with open(folder / f"bare{index}.out", "wb") as out:
            proc = subprocess.Popen(list(commands[index]), stdout=out)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_utime + usage.ru_stime

    start = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        done = list(pool.map(one, range(len(commands))))
    wall = time.perf_counter() - start
    return Result(wall, max((c for c, _ in done), default=0), sum(t for _, t in done))


def version(tool: str) -> str:
    argv = {
        "tuibuild": [TOOLS["tuibuild"][0], "--version"],
        "ninja": [TOOLS["ninja"][0], "--version"],
        "make": ["make", "--version"],
        "doit": [TOOLS["doit"][0], "--version"],
        "pyfloor": [sys.executable, "--version"],
    }[tool]
    try:
        text = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    except OSError as exc:
        return f"unavailable ({exc.strerror})"
    return text.strip().splitlines()[0] if text.strip() else "?"
