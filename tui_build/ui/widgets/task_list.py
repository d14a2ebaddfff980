"""The grouped-list view of the task panel (tasks by `group`, collapsible), and its filter.

Groups come in the order their first task runs (topological order), tasks within a group too,
so the list reads top to bottom roughly as the build goes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ...events import TaskState
from .task_tree import Row

_STATE_WORDS = {s.value: s for s in TaskState} | {
    "uptodate": TaskState.UP_TO_DATE,
    "done": TaskState.SUCCEEDED,
}


def group_rows(
    names: Sequence[str],
    group_of: Callable[[str], str],
    collapsed: Mapping[str, bool],
    match: Callable[[str], bool] | None = None,
) -> list[Row]:
    """Flatten the groups: a header row per group, then its tasks unless collapsed."""
    groups: dict[str, list[str]] = {}
    for name in names:
        if match is None or match(name):
            groups.setdefault(group_of(name), []).append(name)
    rows: list[Row] = []
    for group, members in groups.items():
        expanded = not collapsed.get(group, False)
        rows.append(
            Row(
                key=("group", group),
                depth=0,
                task=None,
                group=group,
                expandable=True,
                expanded=expanded,
            )
        )
        if expanded:
            rows.extend(
                Row(key=("task", name), depth=1, task=name, group=group) for name in members
            )
    return rows


def group_members(names: Sequence[str], group_of: Callable[[str], str], group: str) -> list[str]:
    """The tasks of one group, in topological order."""
    return [n for n in names if group_of(n) == group]


@dataclass(frozen=True)
class TaskFilter:
    """`state:failed link` — every word must match: a state, or a piece of the name."""

    states: frozenset[TaskState]
    words: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> TaskFilter:
        states: set[TaskState] = set()
        words: list[str] = []
        for token in text.split():
            if token.lower().startswith(("state:", "s:")):
                for part in token.split(":", 1)[1].split(","):
                    state = _STATE_WORDS.get(part.lower())
                    if state is not None:
                        states.add(state)
            else:
                words.append(token.lower())
        return cls(frozenset(states), tuple(words))

    def __bool__(self) -> bool:
        return bool(self.states or self.words)

    def matches(self, name: str, state: TaskState) -> bool:
        if self.states and state not in self.states:
            return False
        lowered = name.lower()
        return all(word in lowered for word in self.words)
