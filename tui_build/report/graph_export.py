"""`tuibuild graph`: the task graph as a text tree, Graphviz dot, Mermaid or JSON.

A build graph is easier to reason about when it can be looked at, pasted in a pull request
(Mermaid renders in GitHub and GitLab markdown) or handed to other tools (dot, JSON). Each format
can carry the state of every task from the last run, when the store knows it.

Edges go from a dependency to the task that needs it: the direction work flows in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ..events import TaskState
from ..graph import Graph
from ..symbols import SYMBOL

__all__ = ["FORMATS", "export_graph", "to_dot", "to_json", "to_mermaid", "to_tree"]

States = Mapping[str, TaskState]

# Fill colours by state (light, so black labels stay readable); same meaning as the dashboard's.
FILL = {
    TaskState.PENDING: "#eeeeee",
    TaskState.READY: "#d0f0f8",
    TaskState.RUNNING: "#fff3b0",
    TaskState.SUCCEEDED: "#c8f0c8",
    TaskState.FAILED: "#f8c0c0",
    TaskState.CANCELLED: "#e8c8f0",
    TaskState.UP_TO_DATE: "#c8d8f8",
    TaskState.BLOCKED: "#f0d0a0",
}


def to_tree(graph: Graph, states: States | None = None) -> str:
    """Each target with its dependencies as children, like `cargo tree`.

    A task reached a second time (shared by several dependents) is printed again with `(*)`
    and not expanded again.
    """
    states = states or {}
    lines: list[str] = []
    shown: set[str] = set()
    marked = False

    def label(name: str) -> str:
        state = states.get(name)
        return f"{SYMBOL[state]} {name} ({state})" if state is not None else name

    def walk(name: str, prefix: str, last: bool, top: bool) -> None:
        nonlocal marked
        branch = "" if top else ("└── " if last else "├── ")
        deps = graph.tasks[name].deps
        if name in shown:
            lines.append(f"{prefix}{branch}{label(name)} (*)")
            marked = True
            return
        lines.append(f"{prefix}{branch}{label(name)}")
        shown.add(name)
        inner = prefix if top else prefix + ("    " if last else "│   ")
        for index, dep in enumerate(deps):
            walk(dep, inner, index == len(deps) - 1, False)

    for target in graph.targets:
        walk(target, "", True, True)
    if marked:
        lines.append("")
        lines.append("(*) shared: shown above with its dependencies")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: Graph, states: States | None = None) -> str:
    """Graphviz: one box per task (coloured by state when known), a cluster per group."""
    states = states or {}
    lines = [
        "digraph tuibuild {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];',
    ]
    groups: dict[str, list[str]] = {}
    for task in graph.tasks.values():
        groups.setdefault(task.group, []).append(task.name)

    def node(name: str, indent: str) -> str:
        state = states.get(name)
        attributes = {"label": name}
        if state is not None:
            attributes["fillcolor"] = FILL[state]
            attributes["tooltip"] = str(state)
        if name in graph.targets:
            attributes["penwidth"] = "2"
        shown = ", ".join(f"{key}={_dot_quote(value)}" for key, value in attributes.items())
        return f"{indent}{_dot_quote(name)} [{shown}];"

    for index, (group, names) in enumerate(groups.items()):
        if len(names) > 1:
            lines.append(f"  subgraph cluster_{index} {{")
            lines.append(f"    label={_dot_quote(group)}; style=dashed;")
            lines.extend(node(name, "    ") for name in names)
            lines.append("  }")
        else:
            lines.append(node(names[0], "  "))
    for task in graph.tasks.values():
        for dep in task.deps:
            lines.append(f"  {_dot_quote(dep)} -> {_dot_quote(task.name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_label(text: str) -> str:
    # Inside a quoted label Mermaid takes HTML entities; quotes and angle brackets must be.
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


def to_mermaid(graph: Graph, states: States | None = None) -> str:
    """`graph TD` with ids `t0`, `t1`, ... (task names hold `[`, `=`, `/`) and quoted labels."""
    states = states or {}
    ids = {name: f"t{index}" for index, name in enumerate(graph.tasks)}
    lines = ["graph TD"]
    for name, node_id in ids.items():
        state = states.get(name)
        text = f"{SYMBOL[state]} {name}" if state is not None else name
        lines.append(f'  {node_id}["{_mermaid_label(text)}"]')
    for task in graph.tasks.values():
        for dep in task.deps:
            lines.append(f"  {ids[dep]} --> {ids[task.name]}")
    used = {states[name] for name in graph.tasks if name in states}
    for state in TaskState:
        if state in used:
            css = state.value.replace("-", "_")
            lines.append(f"  classDef {css} fill:{FILL[state]},stroke:#555")
            members = ",".join(ids[n] for n in graph.tasks if states.get(n) is state)
            lines.append(f"  class {members} {css}")
    return "\n".join(lines) + "\n"


def to_json(graph: Graph, states: States | None = None) -> str:
    """Nodes and edges; an edge `{"from": dep, "to": task}` means `from` runs before `to`."""
    states = states or {}
    nodes: list[dict[str, Any]] = []
    for task in graph.tasks.values():
        state = states.get(task.name)
        nodes.append(
            {
                "id": task.name,
                "base": task.base,
                "group": task.group,
                "kind": task.kind,
                "description": task.description,
                "command": task.command_text(),
                "target": task.name in graph.targets,
                "state": None if state is None else state.value,
            }
        )
    edges = [{"from": dep, "to": task.name} for task in graph.tasks.values() for dep in task.deps]
    doc = {"v": 1, "targets": list(graph.targets), "nodes": nodes, "edges": edges}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


FORMATS: Mapping[str, Callable[[Graph, States | None], str]] = {
    "tree": to_tree,
    "dot": to_dot,
    "mermaid": to_mermaid,
    "json": to_json,
}


def export_graph(graph: Graph, fmt: str, states: States | None = None) -> str:
    """The graph in one of :data:`FORMATS`."""
    return FORMATS[fmt](graph, states)
