"""Counts per state and the running tasks, kept up to date event by event.

The header, the rows' context (jobs and pools in use) and the "is the build still going"
questions are asked every UI tick. Answering them from :class:`~tui_build.events.RunSummary`
means walking every task each time: with thousands of tasks that walk, not the build, is what
the dashboard spends its time on. The bridge updates a :class:`Tally` as it folds each event, so
each answer costs what changed (one step per event), not the size of the build.

Nothing here imports Textual (the bridge is started before the UI is up).
"""

from __future__ import annotations

from collections import Counter

from ..events import TaskState


class Tally:
    """How many tasks are in each state, which run, how many are unfinished."""

    def __init__(self) -> None:
        self.counts: Counter[TaskState] = Counter()
        """Tasks per state (states with none may be missing or zero)."""
        self.unfinished = 0
        """Tasks not finished: pending, ready or running."""
        self._running: set[str] = set()
        self._order: dict[str, int] = {}
        """Each task's place in the build's topological order (the order tasks are listed)."""

    def add(self, task: str, state: TaskState) -> None:
        """A task the build just announced, in `state`."""
        if task in self._order:
            return
        self._order[task] = len(self._order)
        self._enter(task, state)

    def move(self, task: str, old: TaskState, new: TaskState) -> None:
        """`task` went from `old` to `new` (a same-state event changes nothing)."""
        if old is new:
            return
        self._leave(task, old)
        self._enter(task, new)

    def _enter(self, task: str, state: TaskState) -> None:
        self.counts[state] += 1
        if not state.finished:
            self.unfinished += 1
        if state is TaskState.RUNNING:
            self._running.add(task)

    def _leave(self, task: str, state: TaskState) -> None:
        self.counts[state] -= 1
        if not state.finished:
            self.unfinished -= 1
        if state is TaskState.RUNNING:
            self._running.discard(task)

    @property
    def running(self) -> list[str]:
        """The running tasks in topological order (as the task list shows them)."""
        return sorted(self._running, key=self._order.__getitem__)

    @property
    def any_running(self) -> bool:
        return bool(self._running)

    @property
    def done(self) -> int:
        """Finished tasks, whatever their outcome."""
        return sum(n for state, n in self.counts.items() if state.finished)
