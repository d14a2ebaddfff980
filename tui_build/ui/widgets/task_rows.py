"""What the task panel lists: the rows of the tree or the grouped list, and what each row says.

Kept apart from the widget (:mod:`.task_panel`), which only scrolls, draws and reacts to keys:
this part knows the build's shape (roots, shared tasks, groups, who depends on whom) and turns a
row into its text. No Textual here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.text import Text

from ...events import RunSummary, TaskRecord
from .task_list import TaskFilter, group_rows
from .task_row import SHARED_MARK, RowContext, counts_text, detail, state_text
from .task_tree import Row, count_parents, subtree_matches, tree_rows


class TaskRows:
    """The rows of one view of a build's tasks, and the build's shape they come from."""

    def __init__(self) -> None:
        self.summary = RunSummary()
        self.view = "tree"
        self.filter = TaskFilter.parse("")
        self.rows: list[Row] = []
        self._tree_open: dict[tuple[str, ...], bool] = {}
        self._groups_closed: dict[str, bool] = {}
        self._parents: dict[str, int] = {}
        self._roots: list[str] = []
        self._groups: dict[str, list[str]] = {}
        self._dependents: dict[str, list[str]] = {}
        self._matched: set[str] = set()
        """Tasks the filter matched at the last rebuild (to tell when a state change matters)."""
        self._longest: int | None = None

    # -- the build's shape ------------------------------------------------------------------

    def set_summary(self, summary: RunSummary) -> None:
        """Take the tasks of a (new) build; call :meth:`rebuild` next."""
        self.summary = summary
        names = list(summary.tasks)
        needed = {d for n in names for d in self.deps(n)}
        # A target that another task needs shows up under it: only the others are roots.
        self._roots = [t for t in summary.targets if t in summary.tasks and t not in needed]
        if not self._roots:
            self._roots = [n for n in names if n not in needed] or names[-1:]
        self._parents = count_parents(names, self.deps, self._roots)
        self._groups = {}
        self._dependents = {}
        for name in names:
            self._groups.setdefault(self.group_of(name), []).append(name)
            for dep in self.deps(name):
                self._dependents.setdefault(dep, []).append(name)

    def deps(self, name: str) -> tuple[str, ...]:
        record = self.summary.tasks.get(name)
        return record.info.deps if record is not None else ()

    def group_of(self, name: str) -> str:
        return self.summary.tasks[name].info.group

    def dependents(self, names: Iterable[str]) -> set[str]:
        """The tasks that directly need any of `names` (their rows say what they wait on)."""
        return {d for n in names for d in self._dependents.get(n, ())}

    def group_records(self, group: str) -> list[TaskRecord]:
        """The records of a group's tasks, in topological order."""
        tasks = self.summary.tasks
        return [tasks[n] for n in self._groups.get(group, ())]

    def row_tasks(self, row: Row) -> list[str]:
        """The tasks a row stands for: a group's members, or the task and its whole subtree."""
        if row.task is None:
            return list(self._groups.get(row.group or "", ()))
        subtree: set[str] = set()
        stack = [row.task]
        while stack:
            name = stack.pop()
            if name not in subtree:
                subtree.add(name)
                stack.extend(self.deps(name))
        return [n for n in self.summary.tasks if n in subtree]

    # -- the rows ---------------------------------------------------------------------------

    def _matches(self, name: str) -> bool:
        return self.filter.matches(name, self.summary.tasks[name].state)

    def rebuild(self) -> None:
        """Recompute the rows (after expand, collapse, filter or view changes)."""
        names = list(self.summary.tasks)
        match: Callable[[str], bool] | None = self._matches if self.filter else None
        self._matched = {n for n in names if match(n)} if match is not None else set()
        if self.view == "tree":
            keep = None
            if match is not None:
                keep = subtree_matches(names, self.deps, self._matched.__contains__).__contains__
            self.rows = tree_rows(self.deps, self._roots, self._parents, self._tree_open, keep)
        else:
            self.rows = group_rows(names, self.group_of, self._groups_closed, match)
        self._longest = None

    def filter_moved(self, changed: Iterable[str]) -> bool:
        """True when a state change makes the filter take or drop a task (rebuild, then)."""
        if not self.filter.states:
            return False
        tasks = self.summary.tasks
        return any(n in tasks and self._matches(n) != (n in self._matched) for n in changed)

    def set_open(self, row: Row, open_: bool) -> None:
        """Expand or collapse a row (rebuild next)."""
        if row.task is None and row.group is not None:
            self._groups_closed[row.group] = not open_
        else:
            self._tree_open[row.key] = open_

    def open_group_of(self, name: str) -> bool:
        """In the list, open the collapsed group holding `name`; False if nothing changed."""
        group = self.group_of(name) if name in self.summary.tasks else None
        if group is None or not self._groups_closed.get(group):
            return False
        self._groups_closed[group] = False
        return True

    def task_of_key(self, key: tuple[str, ...]) -> str | None:
        """The task of a row key of the *other* view (the one just switched away from)."""
        if self.view == "tree":  # the key was a list key
            return key[1] if key[0] == "task" else None
        return key[-1]

    # -- what a row says --------------------------------------------------------------------

    def name_column(self, width: int) -> int:
        """Where details start: after the longest name, at most half the width."""
        if self._longest is None:  # once per rebuild, not once per line
            self._longest = max(
                (
                    r.depth * 2 + 4 + len(r.task or r.group or "") + (2 if r.shared else 0)
                    for r in self.rows
                ),
                default=0,
            )
        return min(self._longest + 2, max(16, width // 2))

    def text(self, row: Row, width: int, context: RowContext | None) -> Text:
        """The row as the panel shows it, before cropping to `width`."""
        indent = "  " * row.depth
        arrow = ("▾ " if row.expanded else "▸ ") if row.expandable else "  "
        text = Text(indent + arrow, no_wrap=True, overflow="ellipsis", end="")
        if row.task is None:
            members = self.group_records(row.group or "")
            done = sum(1 for r in members if r.state.finished)
            text.append(row.group or "", style="bold")
            text.append(f"  {done}/{len(members)}  ", style="dim")
            text.append_text(counts_text(members))
            return text
        record = self.summary.tasks.get(row.task)
        if record is None:
            text.append(row.task)
            return text
        text.append_text(state_text(record.state))
        text.append(" ")
        text.append(row.task, style="bold" if record.info.target else "")
        if row.shared:
            text.append(f" {SHARED_MARK}", style="dim")
        if context is not None:
            more = detail(record, context)
            if more:
                column = self.name_column(width)
                text.pad_right(max(1, column - text.cell_len))
                text.append_text(more)
        return text
