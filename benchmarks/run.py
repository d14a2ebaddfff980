"""tuibuild against ninja, make and doit on the same generated graphs: the one benchmark command.

    .venv/bin/python benchmarks/run.py [--quick] [--runs N] [--only flat,dag,...] [--tools ...]

Writes each graph as build.toml, build.ninja, Makefile and dodo.py under benchmarks/work/, runs
every tool on it N times (interleaved, so a slow minute of the machine hurts all tools alike),
and prints the medians side by side with the targets of issue 2. Every tool runs with 2 jobs and
its stdout goes to a file. See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import graphs
import measure

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
MIB = 1024 * 1024
FLAT_MEMORY_SLACK = 16 * MIB


@dataclass
class Scenario:
    key: str
    title: str
    nodes: list[graphs.Node]
    memory: bool = False
    bare: list[tuple[str, ...]] | None = None
    results: dict[str, list[measure.Result]] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return WORK / self.key

    def median(self, tool: str) -> float:
        return statistics.median(r.wall for r in self.results[tool])

    def cpu(self, tool: str) -> float:
        return statistics.median(r.cpu for r in self.results[tool])

    def peak(self, tool: str) -> int:
        return max(r.peak_rss or 0 for r in self.results[tool])

    def failed(self, tool: str) -> bool:
        return any(r.returncode != 0 for r in self.results[tool])


def scenarios(quick: bool) -> list[Scenario]:
    n_flat, layers, n_dag, big, small = (
        (1000, 5, 20, 2_000_000, 200_000) if quick else (5000, 20, 60, 20_000_000, 2_000_000)
    )
    hose = graphs.firehose(1, big)
    hose8 = graphs.firehose(8, small)
    return [
        Scenario("noop", "startup: one `true` task", graphs.noop()),
        Scenario("flat", f"flat: {n_flat:,} × `true` + 1 depending on all", graphs.flat(n_flat)),
        Scenario(
            "layered",
            f"layered: {layers} layers × 100 `true`, 3 deps each",
            graphs.layered(layers, 100),
        ),
        Scenario("dag", f"random DAG: {n_dag} `sleep` tasks", graphs.random_dag(n_dag)),
        Scenario(
            "firehose",
            f"firehose: `seq 1 {big:,}`",
            hose,
            memory=True,
            bare=[n.argv for n in hose],
        ),
        Scenario(
            "firehose-small",
            f"firehose, 1/10: `seq 1 {small:,}` (memory reference)",
            graphs.firehose(1, small),
            memory=True,
            bare=[n.argv for n in graphs.firehose(1, small)],
        ),
        Scenario(
            "firehose8",
            f"firehose ×8: 8 × `seq 1 {small:,}`",
            hose8,
            memory=True,
            bare=[n.argv for n in hose8],
        ),
    ]


def run_all(chosen: Sequence[Scenario], tools: Sequence[str], runs: int) -> None:
    for scenario in chosen:
        graphs.write_all(scenario.folder, scenario.nodes, measure.JOBS)
        names = [*tools, *(["bare"] if scenario.bare else [])]
        for i in range(runs):
            order = names[i % len(names) :] + names[: i % len(names)]
            for tool in order:
                if tool == "bare":
                    assert scenario.bare is not None
                    result = measure.run_bare(scenario.bare, scenario.folder)
                else:
                    result = measure.run_tool(tool, scenario.folder, memory=scenario.memory)
                scenario.results.setdefault(tool, []).append(result)
                rss = f", cpu {result.cpu:.2f} s"
                if result.peak_rss:
                    rss += f", peak {result.peak_rss / MIB:.0f} MiB"
                status = "" if result.returncode == 0 else f", EXIT {result.returncode}"
                print(
                    f"  {scenario.key:<15} run {i + 1}/{runs} {tool:<9}"
                    f" {result.wall:7.3f} s{rss}{status}",
                    file=sys.stderr,
                    flush=True,
                )
        measure.clean(scenario.folder)


# -- the table ----------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def _spread(s: Scenario, tool: str) -> str:
    walls = [r.wall for r in s.results[tool]]
    return f"{min(walls):.2f}–{max(walls):.2f}"


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def report(by_key: dict[str, Scenario], tools: Sequence[str]) -> str:
    header = [
        "scenario",
        "tool",
        "median s",
        "min–max",
        "cpu s",
        "ratio",
        "peak RSS",
        "target",
        "met?",
    ]
    rows: list[list[str]] = []

    def add(s: Scenario, tool: str, ratio: str, target: str = "", met: str = "", rss: str = ""):  # type: ignore[no-untyped-def]
        fail = " (FAILED)" if s.failed(tool) else ""
        rows.append(
            [
                s.key,
                tool + fail,
                f"{s.median(tool):.3f}",
                _spread(s, tool),
                f"{s.cpu(tool):.2f}",
                ratio,
                rss,
                target,
                met,
            ]
        )

    for key in ("noop", "flat", "layered"):
        s = by_key.get(key)
        if s is None:
            continue
        ref = s.median("ninja") if "ninja" in s.results else None
        for tool in tools:
            ratio = f"{s.median(tool) / ref:.2f}× ninja" if ref else ""
            if key != "noop" and tool == "tuibuild" and ref:
                add(s, tool, ratio, "≤ 1.25× ninja", _yes(s.median(tool) <= 1.25 * ref))
            else:
                add(s, tool, ratio)

    s, noop = by_key.get("dag"), by_key.get("noop")
    if s is not None:
        critical, work, limit = graphs.bound(s.nodes, measure.JOBS)
        for tool in tools:
            startup = noop.median(tool) if noop is not None else 0.0
            makespan = s.median(tool) - startup
            ratio = f"{makespan / limit:.3f}× bound (raw {s.median(tool) / limit:.3f}×)"
            if tool == "tuibuild":
                add(s, tool, ratio, "≤ 1.03× bound", _yes(makespan <= 1.03 * limit))
            else:
                add(s, tool, ratio)

    small = by_key.get("firehose-small")
    for key in ("firehose", "firehose-small", "firehose8"):
        s = by_key.get(key)
        if s is None:
            continue
        bare = s.median("bare")
        for tool in tools:
            ratio = f"{s.median(tool) / bare:.2f}× bare"
            rss = f"{s.peak(tool) / MIB:.0f} MiB" if s.peak(tool) else "– (too quick)"
            if tool == "tuibuild" and key != "firehose-small":
                fast = s.median(tool) <= 3 * bare
                flat = small is None or s.peak(tool) <= small.peak(tool) + FLAT_MEMORY_SLACK
                target = "≤ 3× bare, flat RSS"
                add(s, tool, ratio, target, _yes(fast and flat), rss)
            else:
                add(s, tool, ratio, rss=rss)
        rows.append(
            [
                s.key,
                "bare",
                f"{bare:.3f}",
                _spread(s, "bare"),
                f"{s.cpu('bare'):.2f}",
                "1.00× bare",
                "",
                "",
                "",
            ]
        )

    notes = [
        "median s: wall time, median of the runs; cpu s: median user+system CPU of the tool"
        " and all it ran (less sensitive to other load on the machine than wall time)"
    ]
    if s := by_key.get("dag"):
        critical, work, limit = graphs.bound(s.nodes, measure.JOBS)
        notes.append(
            f"dag bound = max(critical path {critical:.2f} s, total work / {measure.JOBS} jobs"
            f" {work:.2f} s) = {limit:.2f} s; makespan = median wall − the tool's median"
            " `noop` wall (its start-up and shut-down); raw = median wall / bound"
        )
    if "firehose-small" in by_key:
        notes.append(
            "flat RSS: peak RSS on the big firehose ≤ peak on the 1/10 one"
            f" + {FLAT_MEMORY_SLACK // MIB} MiB (RSS summed over the tool's processes, task"
            " commands excluded, polled every 50 ms)"
        )
    return _table(header, rows) + "\n\n" + "\n".join(f"* {n}" for n in notes)


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines = [
        f"machine: {platform.system()} {platform.release()}, {cpu},"
        f" nproc {len(os.sched_getaffinity(0))} (cpu_count {os.cpu_count()})",
        f"python: {platform.python_version()} ({sys.executable})",
        *(f"{tool}: {measure.version(tool)}" for tool in measure.TOOLS),
        f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"jobs: {measure.JOBS} for every tool; stdout of every tool (and of the bare commands)"
        " to a file under benchmarks/work/",
    ]
    return "\n".join(lines)


def precompile() -> None:
    """Write tuibuild's bytecode before timing anything.

    An installed wheel has its ``.pyc`` files from pip; an editable install under
    ``PYTHONDONTWRITEBYTECODE=1`` (set on these machines) has none, and every run would compile
    each module again: 30-40 ms of start-up that no user pays.
    """
    import compileall

    import tui_build

    folder = Path(tui_build.__file__).parent
    compileall.compile_dir(folder, quiet=1, force=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 run, smaller graphs")
    parser.add_argument("--runs", type=int, default=None, help="runs per tool (default 5)")
    parser.add_argument("--only", default=None, help="comma-separated scenarios")
    parser.add_argument(
        "--tools",
        default=",".join(measure.DEFAULT_TOOLS),
        help=f"comma-separated, of {', '.join(measure.TOOLS)} (pyfloor: the floor under any "
        "Python runner, spawn and wait only)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write raw results here")
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 5)
    tools = [t for t in args.tools.split(",") if t]
    unknown = [t for t in tools if t not in measure.TOOLS]
    if unknown:
        parser.error(f"unknown tool(s): {', '.join(unknown)}")
    chosen = scenarios(args.quick)
    if args.only:
        wanted = set(args.only.split(","))
        if "dag" in wanted:
            wanted.add("noop")  # the makespan subtracts start-up
        if wanted & {"firehose", "firehose8"}:
            wanted.add("firehose-small")  # the memory reference
        chosen = [s for s in chosen if s.key in wanted]
    precompile()
    print(machine(), flush=True)
    print(f"runs: {runs}{' (quick)' if args.quick else ''}\n", flush=True)
    run_all(chosen, tools, runs)
    print(report({s.key: s for s in chosen}, tools))
    if args.json:
        raw = {s.key: {t: [r.__dict__ for r in rs] for t, rs in s.results.items()} for s in chosen}
        args.json.write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
