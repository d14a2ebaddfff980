"""Build hook: compile tuibuild's spawn helper (tui_build/native/spawn_helper.c) into the wheel.

The helper is an optimisation, not a requirement: where there is no C compiler (or not Linux),
the hook says so and the wheel is pure Python; tuibuild then starts commands from the engine
itself (tui_build.runners.native falls back when the binary is missing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = os.path.join("tui_build", "native", "spawn_helper.c")
BINARY = os.path.join("tui_build", "native", "tuibuild-spawn")


def compile_helper(root: str) -> str | None:
    """Compile the helper next to its source; the binary's path, or None (with a warning)."""
    if not sys.platform.startswith("linux"):
        return None
    source = os.path.join(root, SOURCE)
    binary = os.path.join(root, BINARY)
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        print("tuibuild: no C compiler; commands will be started from Python", file=sys.stderr)
        return None
    temporary = f"{binary}.{os.getpid()}.tmp"
    command = [compiler, "-O2", "-std=c11", "-Wall", "-o", temporary, source]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        print(f"tuibuild: could not compile the spawn helper: {detail}", file=sys.stderr)
        return None
    os.replace(temporary, binary)
    return binary


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        binary = compile_helper(self.root)
        if binary is None:
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version != "editable":  # an editable install finds it in the source tree
            build_data["force_include"][binary] = BINARY.replace(os.sep, "/")
