"""`tuibuild graph`: tree, dot, Mermaid and JSON of the selected graph, with states when known."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import make_graph, run_cli

from tui_build.events import TaskState
from tui_build.report.graph_export import to_dot, to_json, to_mermaid, to_tree

BUILD = """
[tasks.gen]
cmd = ["true"]
[tasks.compile]
matrix = { arch = ["x86", "arm"] }
cmd = ["true"]
deps = ["gen"]
[tasks.link]
cmd = ["true"]
deps = ["compile"]
[tasks.test]
cmd = ["true"]
deps = ["link", "gen"]
[tasks.all]
deps = ["test", "link"]
"""
STATES = {
    "gen": TaskState.SUCCEEDED,
    "compile[arch=x86]": TaskState.FAILED,
    "link": TaskState.BLOCKED,
}


def test_tree_marks_shared_tasks_and_shows_states(tmp_path: Path) -> None:
    graph = make_graph(tmp_path, BUILD, ["all"])
    assert to_tree(graph) == (
        "all\n"
        "├── test\n"
        "│   ├── link\n"
        "│   │   ├── compile[arch=x86]\n"
        "│   │   │   └── gen\n"
        "│   │   └── compile[arch=arm]\n"
        "│   │       └── gen (*)\n"
        "│   └── gen (*)\n"
        "└── link (*)\n"
        "\n"
        "(*) shared: shown above with its dependencies\n"
    )
    with_states = to_tree(graph, STATES)
    assert "│   │   ├── ✗ compile[arch=x86] (failed)\n" in with_states
    assert "└── ⊗ link (blocked) (*)\n" in with_states


def test_dot_is_valid_graphviz_with_state_colours(tmp_path: Path) -> None:
    graph = make_graph(tmp_path, BUILD)
    dot = to_dot(graph, STATES)
    assert dot.startswith("digraph tuibuild {") and dot.rstrip().endswith("}")
    assert '"compile[arch=x86]" -> "link";' in dot
    assert '"gen" -> "test";' in dot
    assert re.search(
        r'"compile\[arch=x86\]" \[label="compile\[arch=x86\]", fillcolor="#f8c0c0"', dot
    )
    assert "subgraph cluster_1" in dot and 'label="compile"' in dot
    assert len(re.findall(r" -> ", dot)) == 8
    if shutil.which("dot"):
        done = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_mermaid_uses_safe_ids_and_quoted_labels(tmp_path: Path) -> None:
    graph = make_graph(tmp_path, BUILD + '[tasks.odd]\ncmd = ["true"]\ndescription = "x"\n')
    text = to_mermaid(graph, STATES)
    lines = text.splitlines()
    assert lines[0] == "graph TD"
    nodes = dict(re.findall(r'^  (\w+)\["(.*)"\]$', text, re.M))
    assert all(re.fullmatch(r"t\d+", node) for node in nodes)
    assert sorted(nodes.values()) == sorted(
        ["✓ gen", "✗ compile[arch=x86]", "compile[arch=arm]", "⊗ link", "test", "all", "odd"]
    )
    ids = {label.split(" ")[-1]: node for node, label in nodes.items()}
    assert f"  {ids['compile[arch=x86]']} --> {ids['link']}" in lines
    assert "  classDef failed fill:#f8c0c0,stroke:#555" in lines
    assert f"  class {ids['compile[arch=x86]']} failed" in lines


def test_json_has_nodes_and_edges(tmp_path: Path) -> None:
    graph = make_graph(tmp_path, BUILD, ["test"])
    doc = json.loads(to_json(graph, STATES))
    assert doc["v"] == 1 and doc["targets"] == ["test"]
    nodes = {node["id"]: node for node in doc["nodes"]}
    assert set(nodes) == {"gen", "compile[arch=x86]", "compile[arch=arm]", "link", "test"}
    assert nodes["compile[arch=x86]"] == {
        "id": "compile[arch=x86]",
        "base": "compile",
        "group": "compile",
        "kind": "cmd",
        "description": None,
        "command": "true",
        "target": False,
        "state": "failed",
    }
    assert nodes["test"]["target"] is True and nodes["test"]["state"] is None
    assert {(e["from"], e["to"]) for e in doc["edges"]} == {
        ("gen", "compile[arch=x86]"),
        ("gen", "compile[arch=arm]"),
        ("compile[arch=x86]", "link"),
        ("compile[arch=arm]", "link"),
        ("link", "test"),
        ("gen", "test"),
    }


@pytest.mark.parametrize("fmt", ["tree", "dot", "mermaid", "json"])
def test_the_command_prints_each_format(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "build.toml").write_text(BUILD)
    result = run_cli(["graph", "link", "--format", fmt], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "compile[arch=arm]" in result.stdout and "test" not in result.stdout


def test_the_command_shows_the_last_run_states(tmp_path: Path) -> None:
    (tmp_path / "build.toml").write_text(
        '[tasks.ok]\ncmd = ["true"]\n[tasks.bad]\ncmd = ["false"]\ndeps = ["ok"]\n'
        '[tasks.after]\ncmd = ["true"]\ndeps = ["bad"]\n'
    )
    assert run_cli([], tmp_path).returncode == 1
    result = run_cli(["graph", "--format", "json"], tmp_path)
    states = {node["id"]: node["state"] for node in json.loads(result.stdout)["nodes"]}
    assert states == {"ok": "succeeded", "bad": "failed", "after": "blocked"}


def test_unknown_format_and_target_are_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "build.toml").write_text(BUILD)
    bad = run_cli(["graph", "--format", "png"], tmp_path)
    assert bad.returncode == 2 and "invalid choice: 'png'" in bad.stderr
    unknown = run_cli(["graph", "lnk"], tmp_path)
    assert unknown.returncode == 2 and "did you mean" in unknown.stderr
