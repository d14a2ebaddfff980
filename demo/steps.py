"""The demo's "toolchain": small, honest stand-ins for a compiler, a linker and a doc builder.

Each step really reads its inputs and writes its outputs, and takes a little time, so the
dashboard has something to show. Standard library only: the demo runs on a fresh machine.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path


def compile_(source: str, output: str) -> None:
    text = Path(source).read_text()
    print(f"cc -O2 -c {source} -o {output}")
    for percent in range(0, 101, 25):
        time.sleep(0.25)
        print(f"  optimising {Path(source).name}: {percent}%", flush=True)
    if "runtime" in source:
        warning = f"{source}:2:5: warning: unused variable 'scratch' [-Wunused-variable]"
        print(warning, file=sys.stderr)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(hashlib.sha256(text.encode()).hexdigest() + "\n")


def link(output: str, *objects: str) -> None:
    print(f"ld -o {output} " + " ".join(objects))
    time.sleep(0.8)
    Path(output).write_text("".join(Path(o).read_text() for o in objects))
    print(f"linked {len(objects)} objects into {output}")


def lint(*files: str) -> None:
    for name in files:
        time.sleep(0.3)
        lines = Path(name).read_text().splitlines()
        print(f"{name}: {len(lines)} lines, 0 problems")


def docs(edition: str, lang: str, output: str) -> None:
    source = Path("demo/docs/index.md").read_text()
    time.sleep(1.0 if edition == "print" else 0.5)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(source.replace("{edition}", edition).replace("{lang}", lang))
    print(f"\x1b[32mwrote\x1b[0m {output} ({edition}, {lang})")


def flood(count: str) -> None:
    out = sys.stdout
    for i in range(1, int(count) + 1):
        out.write(f"benchmark sample {i:>6}: {i * 7919 % 10007:>5} µs\n")
        if i % 5000 == 0:
            out.flush()
            time.sleep(0.2)


if __name__ == "__main__":
    step, *args = sys.argv[1:]
    {"compile": compile_, "link": link, "lint": lint, "docs": docs, "flood": flood}[step](*args)
