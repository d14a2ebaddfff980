"""The screenshot script (README's pictures) still drives the real app through the demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parent.parent


def test_the_screenshot_script_shoots_every_scene_of_the_demo(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts/screenshots.py"), "--out", str(tmp_path), "--no-png"],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    scenes = {p.stem: p.read_text() for p in tmp_path.glob("*.svg")}
    assert set(scenes) == {
        "running",
        "tree-failed",
        "list",
        "failures-traceback",
        "output-search",
        "rerun-green",
    }
    # SVG text uses &#160; for spaces
    text = {name: svg.replace("&#160;", " ") for name, svg in scenes.items()}
    assert "dependency tree" in text["running"]
    assert "grouped list" in text["list"]
    assert "Traceback" in text["failures-traceback"]
    assert "2 of 2" in text["output-search"]
    assert "succeeded in" in text["rerun-green"] and "no match" not in text["rerun-green"]
