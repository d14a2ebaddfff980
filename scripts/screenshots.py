"""Regenerate screenshots/ from the real dashboard running the demo build.

    .venv/bin/python scripts/screenshots.py [--size 140x42] [--out screenshots]

Copies build.toml.example and demo/ into a temporary folder, runs the build there with the real
engine and runners (the engine in a process of its own, exactly as `tuibuild` does, with -k so
the whole demo runs despite its flaky test), drives the app with Textual's Pilot and saves SVGs with
`App.save_screenshot()`, then PNGs with `rsvg-convert` (Debian: librsvg2-bin) when it is there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tui_build.events import TaskState  # noqa: E402
from tui_build.graph import build_graph  # noqa: E402
from tui_build.spec import load_spec  # noqa: E402
from tui_build.ui import launch  # noqa: E402
from tui_build.ui.app import TuiBuildApp, make_app  # noqa: E402


async def wait_for(pilot: object, predicate: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the demo did not get there in time")
        await pilot.pause(0.1)  # type: ignore[attr-defined]


def to_png(svg: Path) -> Path | None:
    """rsvg-convert collapses the leading spaces Textual writes as &#160;: ask it to keep them."""
    converter = shutil.which("rsvg-convert")
    if converter is None:
        return None
    text = svg.read_text()
    fixed = svg.with_suffix(".tmp.svg")
    fixed.write_text(text.replace("<svg ", '<svg xml:space="preserve" ', 1))
    png = svg.with_suffix(".png")
    subprocess.run([converter, "-o", str(png), str(fixed)], check=True)
    fixed.unlink()
    return png


async def shoot(out: Path, size: tuple[int, int]) -> list[Path]:
    work = Path(tempfile.mkdtemp(prefix="tuibuild-demo-"))
    shutil.copy(REPO / "build.toml.example", work / "build.toml")
    shutil.copytree(REPO / "demo", work / "demo")
    os.chdir(work)
    graph = build_graph(load_spec(Path("build.toml"))).select([])
    args = argparse.Namespace(keep_going=True, events=None, exit_on_finish=False)
    bridge = launch.start(graph, args, 4)
    app: TuiBuildApp = make_app(graph, bridge)
    saved: list[Path] = []

    def save(name: str) -> None:
        path = out / f"{name}.svg"
        app.save_screenshot(path.name, str(out))
        saved.append(path)

    summary = bridge.summary

    def state(name: str) -> TaskState | None:
        record = summary.tasks.get(name)
        return record.state if record is not None else None

    try:
        async with app.run_test(size=size) as pilot:

            def compiling() -> list[str]:
                return [
                    n
                    for n in summary.tasks
                    if n.startswith("compile[") and state(n) is TaskState.RUNNING
                ]

            def sampled() -> list[str]:  # running, with CPU and memory on their rows
                return [n for n in compiling() if (summary.tasks[n].cpu_percent or 0) > 0]

            await wait_for(pilot, lambda: len(compiling()) >= 2)
            await wait_for(pilot, lambda: bool(sampled()), 10)
            app.panel.select_task(sampled()[0])
            await pilot.pause(0.2)
            save("running")
            await wait_for(pilot, lambda: summary.outcome is not None and not bridge.running, 120)
            await pilot.pause(0.3)
            if app.panel.view != "tree":
                app.panel.toggle_view()
            app.panel.select_task("integration")
            await pilot.pause(0.3)
            save("tree-failed")
            await pilot.press("t")
            app.panel.select_task("docs[edition=web,lang=en]")
            await pilot.press("up")
            await pilot.pause(0.3)
            save("list")
            await pilot.press("f")
            await pilot.pause(0.5)
            save("failures-traceback")
            await pilot.press("escape")
            app.panel.select_task("benchmark")
            await pilot.press("enter")
            await pilot.press("slash", *"4242:", "enter")
            await pilot.pause(0.5)
            save("output-search")
            await pilot.press("escape")
            app.panel.select_task("integration")
            await pilot.press("r")
            await wait_for(pilot, lambda: state("all") is TaskState.SUCCEEDED, 60)
            await pilot.pause(0.3)
            save("rerun-green")
    finally:
        await asyncio.get_running_loop().run_in_executor(None, launch.finish, bridge)
        shutil.rmtree(work, ignore_errors=True)
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="140x42")
    parser.add_argument("--out", default=str(REPO / "screenshots"))
    parser.add_argument("--no-png", action="store_true", help="SVG only")
    ns = parser.parse_args()
    width, height = (int(v) for v in ns.size.split("x"))
    out = Path(ns.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for svg in asyncio.run(shoot(out, (width, height))):
        png = None if ns.no_png else to_png(svg)
        print(svg, png or "(no rsvg-convert: SVG only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
