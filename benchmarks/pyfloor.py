"""The least any build runner written in Python can do: the benchmark's `pyfloor` tool.

    python benchmarks/pyfloor.py graph.json JOBS

Reads the graph :func:`graphs.write_all` wrote as ``graph.json`` and runs it `JOBS` at a time in
dependency order, each command started with ``os.posix_spawnp`` (as tuibuild does) and reaped
with ``os.wait``: no events, no logs, no output capture (the commands write straight to this
process's stdout, as make's do), no store, no cancel. Nothing real can be cheaper, so on the
flat and layered graphs its time is the floor under tuibuild's: what is left between the two is
what tuibuild's engine, runners, console and store cost.
"""

from __future__ import annotations

import json
import os
import sys
from collections import deque


def main() -> int:
    with open(sys.argv[1]) as f:
        graph = json.load(f)
    jobs = int(sys.argv[2])
    unmet = {node["name"]: len(node["deps"]) for node in graph}
    argv = {node["name"]: node["argv"] for node in graph}
    dependents: dict[str, list[str]] = {name: [] for name in unmet}
    for node in graph:
        for dep in node["deps"]:
            dependents[dep].append(node["name"])
    ready = deque(name for name, count in unmet.items() if count == 0)
    running: dict[int, str] = {}
    status = 0
    env = os.environ
    while ready or running:
        while ready and len(running) < jobs:
            name = ready.popleft()
            pid = os.posix_spawnp(argv[name][0], argv[name], env)
            running[pid] = name
        pid, code = os.wait()
        name = running.pop(pid)
        if code:
            status = 1
            continue
        for dependent in dependents[name]:
            unmet[dependent] -= 1
            if unmet[dependent] == 0:
                ready.append(dependent)
    return status


if __name__ == "__main__":
    sys.exit(main())
