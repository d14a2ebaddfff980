"""The header's ETA: how long the unfinished work should still take, from recorded durations.

Each unfinished task is expected to take what it took the last time it succeeded (the store's
durations, read once when the dashboard starts); a task never timed gets the average of this
run's successes, else the average of the recorded ones. What is left is spread over the jobs,
but no schedule beats the longest chain of unfinished work, so that bounds the estimate below.
With no history and fewer than three successes so far there is no estimate: any number would
be a lie.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..events import RunSummary, TaskState

MIN_SAMPLES = 3
"""Successes of this run needed before their average stands in for a task never timed."""


def eta(
    summary: RunSummary, now: float, recorded: Mapping[str, float] | None = None
) -> float | None:
    """Seconds until the build should end, or None when there is nothing sound to say."""
    recorded = recorded or {}
    tasks = summary.tasks
    left = [r for r in tasks.values() if not r.state.finished]
    if not any(r.info.kind != "none" for r in left):
        return None
    ran = [r.duration for r in tasks.values() if r.duration and r.state is TaskState.SUCCEEDED]
    if len(ran) >= MIN_SAMPLES:
        fallback: float | None = sum(ran) / len(ran)
    else:
        known = [recorded[n] for n in tasks if n in recorded]
        fallback = sum(known) / len(known) if known else None

    rest: dict[str, float] = {}
    for record in left:
        name = record.info.name
        if record.info.kind == "none":
            rest[name] = 0.0
            continue
        expected = recorded.get(name, fallback)
        if expected is None:
            return None
        if record.state is TaskState.RUNNING and record.started is not None:
            spent = now - record.started
            if name not in recorded and spent > 2 * expected:
                return None  # a guess this far off says nothing about the rest
            rest[name] = max(0.0, expected - spent)
        else:
            rest[name] = expected

    busy = sum(1 for r in left if r.info.kind != "none")
    spread = sum(rest.values()) / max(1, min(summary.jobs or 1, busy))
    # Tasks arrive in topological order (BuildStarted), so a chain's dependencies come first.
    chain: dict[str, float] = {}
    for name, seconds in rest.items():
        deps = tasks[name].info.deps
        chain[name] = seconds + max((chain.get(d, 0.0) for d in deps), default=0.0)
    return max(spread, max(chain.values(), default=0.0))
