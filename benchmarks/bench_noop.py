"""The no-op benchmark: how long a second, nothing-to-do run takes, side by side.

The same graph — N independent tasks, each `cp in/I.txt out/I.txt` with its input and output
declared — written for tuibuild (build.toml), ninja (build.ninja), GNU make (Makefile, run as
`make -r`) and doit (dodo.py). Each tool gets its own copy of the tree, builds it once, then the
no-op run is timed several times (wall clock, interpreter start included); medians are printed.
tuibuild is timed twice: as installed (the no-op fast path) and with TUIBUILD_NO_FASTPATH=1 (the
full path: parse, graph, engine, store).

    .venv/bin/python benchmarks/bench_noop.py            # 1,000 and 10,000 tasks
    .venv/bin/python benchmarks/bench_noop.py 1000 --repeat 7
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    local = BIN / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def write_tree(root: Path, n: int) -> None:
    (root / "in").mkdir(parents=True)
    (root / "out").mkdir()
    for i in range(n):
        (root / "in" / f"{i}.txt").write_text(f"file {i}\n")


def write_toml(root: Path, n: int) -> None:
    parts = [
        f'[tasks.c{i}]\ncmd = ["cp", "in/{i}.txt", "out/{i}.txt"]\n'
        f'inputs = ["in/{i}.txt"]\noutputs = ["out/{i}.txt"]\n'
        for i in range(n)
    ]
    (root / "build.toml").write_text("\n".join(parts))


def write_ninja(root: Path, n: int) -> None:
    lines = ["rule cp", "  command = cp $in $out", ""]
    lines += [f"build out/{i}.txt: cp in/{i}.txt" for i in range(n)]
    (root / "build.ninja").write_text("\n".join(lines) + "\n")


def write_make(root: Path, n: int) -> None:
    outputs = " ".join(f"out/{i}.txt" for i in range(n))
    (root / "Makefile").write_text(f"all: {outputs}\n\nout/%.txt: in/%.txt\n\tcp $< $@\n")


def write_dodo(root: Path, n: int) -> None:
    (root / "dodo.py").write_text(
        f"def task_cp():\n"
        f"    for i in range({n}):\n"
        f"        yield {{'name': str(i), 'actions': [f'cp in/{{i}}.txt out/{{i}}.txt'],\n"
        f"               'file_dep': [f'in/{{i}}.txt'], 'targets': [f'out/{{i}}.txt']}}\n"
    )


TOOLS: dict[str, tuple[Callable[[Path, int], None], list[str], dict[str, str]]] = {
    "tuibuild": (write_toml, [tool("tuibuild"), "--no-tui"], {}),
    "tuibuild (full path)": (
        write_toml,
        [tool("tuibuild"), "--no-tui"],
        {"TUIBUILD_NO_FASTPATH": "1"},
    ),
    "ninja": (write_ninja, [tool("ninja")], {}),
    "make -r": (write_make, ["make", "-r", f"-j{os.cpu_count() or 1}"], {}),
    "doit": (write_dodo, [tool("doit"), "-n", str(os.cpu_count() or 1)], {}),
}


def run(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        tail = result.stdout.decode(errors="replace")[-2000:]
        raise SystemExit(f"{command[0]} failed in {cwd}:\n{tail}")
    return elapsed


def bench(n: int, repeat: int, only: list[str]) -> dict[str, tuple[float, float]]:
    """tool -> (first build seconds, median no-op seconds)."""
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix=f"bench-noop-{n}-") as tmp:
        for name, (write, command, env) in TOOLS.items():
            if only and not any(o in name for o in only):
                continue
            root = Path(tmp) / name.replace(" ", "_").replace("(", "").replace(")", "")
            write_tree(root, n)
            write(root, n)
            time.sleep(0.05)  # the build file is older than the first run's start
            first = run(command, root, env)
            noop = [run(command, root, env) for _ in range(repeat)]
            assert (root / "out" / f"{n - 1}.txt").exists()
            results[name] = (first, statistics.median(noop))
            print(
                f"  {n:>6} tasks  {name:<22} first {first:7.2f}s   no-op median "
                f"{results[name][1]:7.3f}s  (runs: {', '.join(f'{t:.3f}' for t in noop)})",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", action="append", default=[], help="tools whose name has this")
    args = parser.parse_args()
    table = {n: bench(n, args.repeat, args.only) for n in args.sizes}
    print("\nno-op run, median wall seconds (interpreter start included):")
    names = [name for name in TOOLS if any(name in r for r in table.values())]
    print(f"{'tool':<22}" + "".join(f"{n:>12,}" for n in args.sizes))
    for name in names:
        cells = "".join(
            f"{table[n][name][1]:>12.3f}" if name in table[n] else f"{'-':>12}" for n in args.sizes
        )
        print(f"{name:<22}{cells}")
    if all("ninja" in table[n] and "tuibuild" in table[n] for n in args.sizes):
        for n in args.sizes:
            ratio = table[n]["tuibuild"][1] / table[n]["ninja"][1]
            print(f"tuibuild / ninja at {n:,}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
