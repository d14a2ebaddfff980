"""The dashboard in a real terminal (tmux), beside headless runs of the same builds (issue 3).

    .venv/bin/python benchmarks/bench_dashboard.py [--runs 3] [--only startup,firehose,keys,many]

Every run starts the installed `tuibuild` in a fresh tmux session of 120x40 (`new-session -d`),
wrapped in `sh -c 'date; COMMAND; date'` so its wall time comes from the shell, not from polling.
The screen is read with `capture-pane`.

- startup: time to first frame (the header on screen) of tuibuild on a one-task build, and of a
  bare Textual app (`benchmarks/bare_app.py`), side by side; and the whole of a one-task build
  with `--exit-on-finish` (the bare app: first frame, then exit), against `--no-tui`.
- firehose: one `seq 1 20000000` shown live, `--exit-on-finish`: the time beyond the one-task
  build, against the same for `--no-tui` (stdout to a file, as benchmarks/run.py does; to the
  terminal tmux itself would be the bottleneck); peak RSS of tuibuild's processes, the UI's and
  the engine's together (psutil, 20 ms).
- keys: a task printing lines flat out for about 10 s; meanwhile `t` (tree / list) is pressed
  every 0.6 s and the time until the task panel's title changes is measured (capture-pane every
  few ms): median and max over the presses.
- many: 1,000 `true` tasks: the time beyond the one-task build, against `--no-tui`.

Medians over `--runs` runs. Prints a table with the targets and whether they are met.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "dashboard"
BIN = Path(sys.executable).parent
TUIBUILD = str(BIN / "tuibuild")
PYTHON = sys.executable
JOBS = 2
MIB = 1024 * 1024
FLOOD_SECONDS = 10.0
PRESSES = 10

BARE_APP = '''"""A bare Textual app: with --exit, it exits after its first frame."""
import sys

from textual.app import App, ComposeResult
from textual.widgets import Static


class Bare(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("bare textual app: first frame")

    def on_mount(self) -> None:
        if "--exit" in sys.argv:
            self.call_after_refresh(self.exit)


Bare().run()
'''


# -- tmux --------------------------------------------------------------------------------------


class Session:
    """One tmux session running `command` wrapped in start / end timestamps."""

    def __init__(self, folder: Path, command: str) -> None:
        self.folder = folder
        self.name = f"bench-{uuid.uuid4().hex[:8]}"
        self.t0 = folder / "t0"
        self.t1 = folder / "t1"
        for f in (self.t0, self.t1):
            f.unlink(missing_ok=True)
        wrapped = (
            f"cd {folder} && date +%s.%N > t0.tmp && mv t0.tmp t0 && {command}; "
            "date +%s.%N > t1.tmp; mv t1.tmp t1; sleep 600"
        )
        env_path = f"{BIN}:/usr/bin:/bin"
        for _ in range(3):  # a tmux server that is just exiting refuses the first try
            started = subprocess.run(
                ["tmux", "new-session", "-d", "-x", "120", "-y", "40", "-s", self.name, wrapped],
                env={"PATH": env_path, "TERM": "xterm-256color", "HOME": str(folder)},
                capture_output=True,
            )
            if started.returncode == 0:
                break
            time.sleep(0.2)
        started.check_returncode()

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        ).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def pane_pid(self) -> int:
        out = subprocess.run(
            ["tmux", "display", "-p", "-t", self.name, "#{pane_pid}"],
            capture_output=True,
            text=True,
        ).stdout
        return int(out.strip())

    def started(self, timeout: float = 30) -> float:
        return float(_wait_file(self.t0, timeout))

    def wait_end(self, timeout: float = 600) -> float:
        """Seconds from the shell's first timestamp to its last (the command's wall time)."""
        end = float(_wait_file(self.t1, timeout))
        return end - self.started()

    def wait_screen(self, predicate: Callable[[str], bool], timeout: float = 30) -> float:
        """Poll the screen until `predicate` holds; the epoch time it was first seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.screen()):
                return time.time()
            time.sleep(0.003)
        raise TimeoutError(f"never seen on screen:\n{self.screen()}")

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def _wait_file(path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text().strip()
        time.sleep(0.005)
    raise TimeoutError(f"{path} never appeared")


def _tuibuild_process(session: Session, timeout: float = 10) -> psutil.Process | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            for child in psutil.Process(session.pane_pid()).children(recursive=True):
                if "tuibuild" in " ".join(child.cmdline()[:2]):
                    return child
        except (psutil.Error, ValueError):
            pass
        time.sleep(0.002)
    return None


def _tuibuild_rss(proc: psutil.Process) -> int:
    """RSS of tuibuild's processes: the UI's and the engine's (a fork: same command line), not
    the tasks'. Pages the fork still shares are counted twice, so this errs high."""
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            if child.cmdline()[:2] == proc.cmdline()[:2]:
                total += child.memory_info().rss
        except psutil.Error:
            pass
    return total


# -- builds ------------------------------------------------------------------------------------


def _write(folder: Path, tasks: dict[str, list[str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = [f"[build]\njobs = {JOBS}\n"]
    for name, argv in tasks.items():
        text.append(f"\n[tasks.{name}]\ncmd = {json.dumps(argv)}\n")
    (folder / "build.toml").write_text("".join(text))
    return folder


def _clean(folder: Path) -> None:
    shutil.rmtree(folder / ".tuibuild", ignore_errors=True)


FLOOD = (
    "import sys, time\n"
    f"end = time.monotonic() + {FLOOD_SECONDS}\n"
    "i = 0\n"
    "while time.monotonic() < end:\n"
    "    i += 1\n"
    "    sys.stdout.write('line %d of a steady flood, printed as fast as it goes\\n' % i)\n"
)


def builds() -> dict[str, Path]:
    return {
        "one": _write(WORK / "one", {"t0": ["true"]}),
        "wait": _write(WORK / "wait", {"t0": ["sleep", "30"]}),
        "firehose": _write(WORK / "firehose", {"seq": ["seq", "1", "20000000"]}),
        "flood": _write(WORK / "flood", {"flood": [PYTHON, "-c", FLOOD]}),
        "many": _write(WORK / "many", {f"t{i}": ["true"] for i in range(1000)}),
    }


# -- one run of each measurement -------------------------------------------------------------


def dashboard_run(folder: Path, *, memory: bool = False) -> tuple[float, int]:
    """Wall time of `tuibuild --exit-on-finish` in tmux; peak RSS of the tuibuild process."""
    _clean(folder)
    session = Session(folder, f"{TUIBUILD} --exit-on-finish")
    peak = 0
    try:
        if memory:
            proc = _tuibuild_process(session)
            done = threading.Event()

            def poll() -> None:
                nonlocal peak
                while proc is not None and not done.wait(0.02):
                    try:
                        peak = max(peak, _tuibuild_rss(proc))
                    except psutil.Error:
                        return

            sampler = threading.Thread(target=poll, daemon=True)
            sampler.start()
            wall = session.wait_end()
            done.set()
            sampler.join()
        else:
            wall = session.wait_end()
    finally:
        session.kill()
    return wall, peak


def headless_run(folder: Path) -> float:
    _clean(folder)
    session = Session(folder, f"{TUIBUILD} --no-tui > headless.out")
    try:
        return session.wait_end()
    finally:
        session.kill()


def first_frame(folder: Path, command: str, marker: str) -> float:
    _clean(folder)
    session = Session(folder, command)
    try:
        seen = session.wait_screen(lambda s: marker in s)
        return seen - session.started()
    finally:
        session.kill()


def bare_run(folder: Path) -> float:
    session = Session(folder, f"{PYTHON} bare_app.py --exit")
    try:
        return session.wait_end()
    finally:
        session.kill()


def key_latencies(folder: Path) -> tuple[list[float], float]:
    """Press `t` during the flood; seconds until the panel's title shows the other view."""
    _clean(folder)
    session = Session(folder, TUIBUILD)
    latencies: list[float] = []
    try:
        session.wait_screen(lambda s: "line 1" in s and "dependency tree" in s)
        time.sleep(0.3)
        for i in range(PRESSES):
            want = "grouped list" if i % 2 == 0 else "dependency tree"
            sent = time.time()
            session.keys("t")
            seen = session.wait_screen(lambda s, w=want: w in s, timeout=10)
            latencies.append(seen - sent)
            time.sleep(0.6)
        still_flooding = "▶" in session.screen()
    finally:
        session.kill()
    if not still_flooding:
        print("  (warning: the flood ended before the last press)", file=sys.stderr)
    return latencies, 0.0


# -- the whole benchmark ---------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def _progress(what: str, value: str) -> None:
    print(f"  {what:<42} {value}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="startup,firehose,keys,many")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    if shutil.which("tmux") is None:
        print("bench_dashboard: tmux is not installed", file=sys.stderr)
        return 2
    folders = builds()
    (folders["one"] / "bare_app.py").write_text(BARE_APP)
    runs = args.runs
    rows: list[list[str]] = []
    yes = {True: "yes", False: "NO"}

    def timed(what: str, run: Callable[[], float]) -> float:
        values = []
        for i in range(runs):
            values.append(run())
            _progress(f"{what} {i + 1}/{runs}", f"{values[-1]:.3f} s")
        return _median(values)

    one_dash = one_head = 0.0
    if only & {"startup", "firehose", "many"}:
        one_dash = timed("one task, dashboard", lambda: dashboard_run(folders["one"])[0])
        one_head = timed("one task, --no-tui", lambda: headless_run(folders["one"]))

    if "startup" in only:
        ttff = timed(
            "first frame, tuibuild",
            lambda: first_frame(folders["wait"], TUIBUILD, "dependency tree"),
        )
        bare_ttff = timed(
            "first frame, bare Textual app",
            lambda: first_frame(folders["one"], f"{PYTHON} bare_app.py", "first frame"),
        )
        bare_end = timed("bare Textual app, start to exit", lambda: bare_run(folders["one"]))
        rows += [
            [
                "startup",
                "time to first frame",
                f"{ttff:.3f} s",
                f"bare Textual {bare_ttff:.3f} s",
                "≈ bare",
                yes[ttff <= bare_ttff + 0.15],
            ],
            [
                "startup",
                "one task, --exit-on-finish",
                f"{one_dash:.3f} s",
                f"bare {bare_end:.3f} s; --no-tui {one_head:.3f} s",
                "≈ bare",
                yes[one_dash <= bare_end + 0.15],
            ],
        ]

    if "firehose" in only:
        walls, peaks = [], []
        for i in range(runs):
            wall, peak = dashboard_run(folders["firehose"], memory=True)
            walls.append(wall)
            peaks.append(peak)
            _progress(
                f"seq 1 20000000, dashboard {i + 1}/{runs}", f"{wall:.3f} s, {peak / MIB:.0f} MiB"
            )
        head = timed("seq 1 20000000, --no-tui", lambda: headless_run(folders["firehose"]))
        beyond = _median(walls) - one_dash
        head_beyond = head - one_head
        ratio = beyond / head_beyond
        peak = max(peaks)
        rows += [
            [
                "firehose",
                "seq 1 20000000 beyond start-up",
                f"{beyond:.3f} s",
                f"--no-tui {head_beyond:.3f} s ({ratio:.2f}×)",
                "≤ 1.3×",
                yes[ratio <= 1.3],
            ],
            [
                "firehose",
                "peak RSS of tuibuild",
                f"{peak / MIB:.0f} MiB",
                "",
                "< 150 MB",
                yes[peak < 150e6],
            ],
        ]

    if "keys" in only:
        latencies: list[float] = []
        for i in range(runs):
            got, _ = key_latencies(folders["flood"])
            latencies += got
            _progress(
                f"key during flood {i + 1}/{runs}",
                f"median {_median(got) * 1000:.0f} ms, max {max(got) * 1000:.0f} ms",
            )
        med, worst = _median(latencies), max(latencies)
        rows += [
            [
                "keys",
                f"`t` during a 10 s flood (median, {len(latencies)} presses)",
                f"{med * 1000:.0f} ms",
                f"max {worst * 1000:.0f} ms",
                "≤ 150 ms",
                yes[med <= 0.150],
            ],
        ]

    if "many" in only:
        dash = timed("1,000 × true, dashboard", lambda: dashboard_run(folders["many"])[0])
        head = timed("1,000 × true, --no-tui", lambda: headless_run(folders["many"]))
        beyond, head_beyond = dash - one_dash, head - one_head
        ratio = beyond / head_beyond
        rows += [
            [
                "many",
                "1,000 × true beyond start-up",
                f"{beyond:.3f} s",
                f"--no-tui {head_beyond:.3f} s ({ratio:.2f}×)",
                "≤ 1.2×",
                yes[ratio <= 1.2],
            ],
        ]

    print(
        f"tuibuild dashboard in tmux 120×40, -j {JOBS}, medians of {runs} runs "
        f"({psutil.cpu_count()} CPUs, load {psutil.getloadavg()[0]:.2f})"
    )
    print(_table(["scenario", "measure", "dashboard", "beside", "target", "met?"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
