"""The dependency-tree view of the task panel: each target, its dependencies as children.

A task needed by several others appears under each of them, marked shared (``↺``). Only its
first appearance is expanded by default, so a wide diamond-shaped graph stays one screen per
level instead of exploding; any other appearance expands on request. Rows are computed only for
expanded nodes, and the walk is iterative (a chain of 1,000 tasks is fine).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One line of the task panel (a task, or a group header in the list view)."""

    key: tuple[str, ...]
    """Identifies the row across rebuilds: the path from its target in the tree view."""
    depth: int
    task: str | None
    """The task on this row, None for a group header."""
    group: str | None = None
    """The group of a group header."""
    expandable: bool = False
    expanded: bool = False
    shared: bool = False
    """The task is needed by several others (or is also a target)."""


def tree_rows(
    deps: Callable[[str], Sequence[str]],
    targets: Sequence[str],
    parents: Mapping[str, int],
    overrides: Mapping[tuple[str, ...], bool],
    keep: Callable[[str], bool] | None = None,
) -> list[Row]:
    """Flatten the visible part of the dependency tree.

    Args:
        deps: A task's dependencies.
        targets: The roots, in order.
        parents: How many tasks (and targets) need each task; more than one means shared.
        overrides: Expansion the user chose, by row key (otherwise the first appearance of a
            task is expanded and the others are not).
        keep: With a filter, whether a task's subtree holds a match (others are hidden).
    """
    rows: list[Row] = []
    expanded_once: set[str] = set()
    stack: list[tuple[str, tuple[str, ...]]] = []
    for target in reversed(targets):
        if keep is None or keep(target):
            stack.append((target, (target,)))
    while stack:
        name, key = stack.pop()
        children = [d for d in deps(name) if keep is None or keep(d)]
        expandable = bool(children)
        default = name not in expanded_once
        expanded = expandable and overrides.get(key, default)
        rows.append(
            Row(
                key=key,
                depth=len(key) - 1,
                task=name,
                expandable=expandable,
                expanded=expanded,
                shared=parents.get(name, 0) > 1,
            )
        )
        if expanded:
            expanded_once.add(name)
            for child in reversed(children):
                stack.append((child, (*key, child)))
    return rows


def count_parents(
    names: Sequence[str], deps: Callable[[str], Sequence[str]], targets: Sequence[str]
) -> dict[str, int]:
    """How many tasks depend on each task, a target counting as one more."""
    counts = dict.fromkeys(names, 0)
    for name in names:
        for dep in deps(name):
            if dep in counts:
                counts[dep] += 1
    for target in targets:
        if target in counts:
            counts[target] += 1
    return counts


def subtree_matches(
    names: Sequence[str], deps: Callable[[str], Sequence[str]], match: Callable[[str], bool]
) -> set[str]:
    """Tasks whose subtree (themselves included) holds a match; `names` in topological order."""
    keep: set[str] = set()
    for name in names:  # dependencies first, so each answer is ready when needed
        if match(name) or any(d in keep for d in deps(name)):
            keep.add(name)
    return keep
