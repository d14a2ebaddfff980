"""How fast the output pane takes in and shows big task output, and how much memory it holds.

Run: ``.venv/bin/python benchmarks/bench_output_pane.py [--lines N ...]``. Each case runs in a
fresh subprocess (so peak RSS is that case's own) inside a headless ``App.run_test``: output is
written to a log file and fed to the store in ~64 KiB chunks (what the app gets per ~80 ms batch
from a fast task), with ``refresh_lines()`` after each chunk, as the app does. Then it times
painting a 40-row screen of SGR-coloured lines (cold and cached), jumping to line 0 (read back
from the log), scanning to the middle of the log, and searching the whole output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from textual.app import App, ComposeResult

from tui_build.ui.line_store import OutputStore
from tui_build.ui.widgets.output_pane import OutputPane

CHUNK_LINES = 1000  # ~64 KiB of the line below


def make_chunk(start: int, stop: int) -> str:
    return "".join(
        f"\x1b[32m[{i:07d}]\x1b[0m cc -O2 -c src/module_{i % 97}.c -o build/module_{i % 97}.o "
        f"\x1b[1;33mwarning\x1b[0m: unused variable 'x{i}'\n"
        for i in range(start, stop)
    )


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class BenchApp(App[None]):
    def __init__(self, store: OutputStore) -> None:
        super().__init__()
        self.store = store

    def compose(self) -> ComposeResult:
        yield OutputPane(self.store)


async def run_case(lines: int) -> dict[str, float]:
    store = OutputStore()
    app = BenchApp(store)
    result: dict[str, float] = {"lines": lines}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "big.log"
        async with app.run_test(size=(120, 40)) as pilot:
            pane = app.query_one(OutputPane)
            store.start_attempt("big", str(log))
            pane.show_task("big")
            await pilot.pause()
            result["rss_start_mib"] = rss_mib()
            feeding = 0.0
            worst = 0.0
            chunks = 0
            with open(log, "wb") as out:
                for start in range(0, lines, CHUNK_LINES):
                    chunk = make_chunk(start, min(lines, start + CHUNK_LINES))
                    out.write(chunk.encode())
                    out.flush()
                    began = time.perf_counter()
                    store.feed("big", chunk)
                    pane.refresh_lines()
                    spent = time.perf_counter() - began
                    feeding += spent
                    worst = max(worst, spent)
                    chunks += 1
                    if chunks % 50 == 0:
                        await pilot.pause()  # let the app paint, as it would between batches
            began = time.perf_counter()
            await pilot.pause()
            result["first_paint_s"] = time.perf_counter() - began
            result["feed_s"] = feeding
            result["chunks"] = chunks
            result["chunk_mean_ms"] = feeding / chunks * 1000
            result["chunk_worst_ms"] = worst * 1000
            result["log_mib"] = log.stat().st_size / 2**20

            pane._strips.clear()
            began = time.perf_counter()
            for y in range(40):
                pane.render_line(y)
            result["screen_cold_ms"] = (time.perf_counter() - began) * 1000
            began = time.perf_counter()
            for y in range(40):
                pane.render_line(y)
            result["screen_cached_ms"] = (time.perf_counter() - began) * 1000

            began = time.perf_counter()
            pane.scroll_to(y=0, animate=False)
            for y in range(40):
                pane.render_line(y)
            result["top_from_log_ms"] = (time.perf_counter() - began) * 1000

            lines_obj = store.get("big")
            assert lines_obj is not None and lines_obj.index is not None
            began = time.perf_counter()
            lines_obj.index.extend(lines // 2)
            result["index_to_middle_s"] = time.perf_counter() - began
            began = time.perf_counter()
            pane.scroll_to(y=lines // 2, animate=False)
            for y in range(40):
                pane.render_line(y)
            result["middle_screen_ms"] = (time.perf_counter() - began) * 1000

            began = time.perf_counter()
            pane.search("x1234567")  # near the end of 2M: not in the tail, so the log is read
            await app.workers.wait_for_complete()
            result["search_all_s"] = time.perf_counter() - began
            result["held_lines"] = lines_obj.held_lines
            result["rss_end_mib"] = rss_mib()
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


ROWS = [
    ("feed + refresh_lines, total", "feed_s", "{:.2f} s"),
    ("  per ~64 KiB chunk, mean", "chunk_mean_ms", "{:.2f} ms"),
    ("  per chunk, worst", "chunk_worst_ms", "{:.2f} ms"),
    ("first paint after feeding", "first_paint_s", "{:.3f} s"),
    ("paint 40 SGR lines, cold", "screen_cold_ms", "{:.2f} ms"),
    ("paint 40 SGR lines, cached", "screen_cached_ms", "{:.2f} ms"),
    ("jump to line 0 (from log)", "top_from_log_ms", "{:.2f} ms"),
    ("index log to the middle", "index_to_middle_s", "{:.3f} s"),
    ("paint 40 lines at the middle", "middle_screen_ms", "{:.2f} ms"),
    ("search all output (+ log)", "search_all_s", "{:.2f} s"),
    ("log file size", "log_mib", "{:.0f} MiB"),
    ("lines held in memory", "held_lines", "{:,.0f}"),
    ("RSS at start", "rss_start_mib", "{:.0f} MiB"),
    ("RSS at end", "rss_end_mib", "{:.0f} MiB"),
    ("peak RSS", "peak_rss_mib", "{:.0f} MiB"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, nargs="*", default=[200_000, 2_000_000])
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case is not None:
        print(json.dumps(asyncio.run(run_case(args.case))))
        return
    results = []
    for lines in args.lines:
        done = subprocess.run(
            [sys.executable, __file__, "--case", str(lines)],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    heads = [f"{int(r['lines']):,} lines" for r in results]
    print(f"{'':34}" + "".join(f"{h:>16}" for h in heads))
    for label, key, fmt in ROWS:
        print(f"{label:34}" + "".join(f"{fmt.format(r[key]):>16}" for r in results))


if __name__ == "__main__":
    main()
