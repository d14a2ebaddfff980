"""The task graph: expansion, dependencies, selection, graph queries, placeholders and jobs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tui_build.graph import (
    Graph,
    UnknownTargetError,
    build_graph,
    resolve_inputs,
    resolve_job,
    resolve_outputs,
)
from tui_build.spec import BuildFileError, load_spec


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def touch(*names: str) -> None:
    for name in names:
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text("")


def graph(text: str) -> Graph:
    Path("build.toml").write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return build_graph(load_spec("build.toml"))


def error(text: str) -> str:
    with pytest.raises(BuildFileError) as info:
        graph(text)
    return str(info.value)


CHAIN = """
[tasks.a]
cmd = ["a"]

[tasks.b]
cmd = ["b"]
deps = ["a"]

[tasks.c]
cmd = ["c"]
deps = ["a"]

[tasks.d]
deps = ["b", "c"]

[tasks.other]
cmd = ["o"]
"""


# ---------------------------------------------------------------------------------------------
# Expansion


def test_foreach_instances_names_and_params() -> None:
    touch("src/b.c", "src/a.c", "src/sub/c.c", "src/notes.txt", "src/dir.c/x")
    g = graph(
        """
        [tasks.compile]
        cmd = ["cc", "-c", "{input}", "-o", "build/{stem}.o"]
        foreach = "src/**/*.c"
        description = "compile {input}"
        group = "cc-{stem}"
        """
    )
    assert list(g.tasks) == ["compile[src/a.c]", "compile[src/b.c]", "compile[src/sub/c.c]"]
    task = g.tasks["compile[src/sub/c.c]"]
    assert task.base == "compile"
    assert task.params == {"input": "src/sub/c.c", "stem": "c", "name": "compile[src/sub/c.c]"}
    assert task.description == "compile src/sub/c.c"
    assert task.group == "cc-c"
    assert task.command_text() == "cc -c src/sub/c.c -o build/c.o"


def test_matrix_instances_in_product_order() -> None:
    g = graph(
        """
        [tasks.docs]
        matrix = { edition = ["web", "print"], lang = ["en", "fr"] }
        cmd = ["sphinx", "-t", "{edition}", "-D", "language={lang}", "out/{name}"]
        """
    )
    assert list(g.tasks) == [
        "docs[edition=web,lang=en]",
        "docs[edition=web,lang=fr]",
        "docs[edition=print,lang=en]",
        "docs[edition=print,lang=fr]",
    ]
    task = g.tasks["docs[edition=print,lang=fr]"]
    assert task.params == {"edition": "print", "lang": "fr", "name": "docs[edition=print,lang=fr]"}
    assert task.command_text() == (
        "sphinx -t print -D language=fr 'out/docs[edition=print,lang=fr]'"
    )


def test_dep_on_base_name_means_every_instance_and_an_instance_can_be_named() -> None:
    touch("src/a.c", "src/b.c")
    g = graph(
        """
        [tasks.compile]
        cmd = ["cc", "{input}"]
        foreach = "src/*.c"

        [tasks.link]
        cmd = ["ld"]
        deps = ["compile", "compile[src/a.c]"]

        [tasks.one]
        deps = "compile[src/b.c]"
        """
    )
    assert g.tasks["link"].deps == ("compile[src/a.c]", "compile[src/b.c]")
    assert g.tasks["one"].deps == ("compile[src/b.c]",)
    assert g.dependents("compile[src/b.c]") == ("link", "one")


def test_foreach_matching_nothing() -> None:
    touch("src/a.h")
    message = error(
        '[tasks.x]\ncmd = ["x"]\n\n[tasks.compile]\ncmd = ["cc"]\nforeach = "src/*.c"\n'
    )
    assert message == "build.toml:4: task 'compile': foreach 'src/*.c' matches no file"


def test_unknown_dep_did_you_mean() -> None:
    message = error('[tasks.link]\ncmd = ["ld"]\n\n[tasks.all]\ndeps = ["lnk"]\n')
    assert message == "build.toml:4: task 'all': unknown dependency 'lnk' (did you mean 'link'?)"


def test_cycle_is_printed_with_a_line() -> None:
    message = error(
        """
        [tasks.ok]
        cmd = ["x"]

        [tasks.a]
        deps = ["ok", "b"]

        [tasks.b]
        deps = ["c"]

        [tasks.c]
        deps = ["a"]
        """
    )
    assert message == "build.toml:4: dependency cycle: a -> b -> c -> a"


def test_self_dependency_is_a_cycle() -> None:
    assert error('[tasks.a]\ndeps = ["a"]\n') == "build.toml:1: dependency cycle: a -> a"


# ---------------------------------------------------------------------------------------------
# Placeholders, checked when the graph is built


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (
            'cmd = ["echo", "{foo}"]\nmatrix = { edition = ["a"] }',
            "unknown placeholder '{foo}' in cmd (known: name, inputs, outputs, edition)",
        ),
        (
            'cmd = ["echo", "{foo}"]\nforeach = "*.c"',
            "unknown placeholder '{foo}' in cmd (known: input, stem, name, inputs, outputs)",
        ),
        ('cmd = ["cc", "{input}"]', "{input} is only defined in foreach tasks (used in cmd)"),
        ('cmd = ["x"]\noutputs = ["{stem}.o"]', "{stem} is only defined in foreach tasks"),
        ('cmd = ["x"]\ninputs = ["{inputs}"]', "{inputs} is not allowed in inputs"),
        ('cmd = ["x"]\noutputs = ["{outputs}"]', "{outputs} is not allowed in outputs"),
        ('cmd = ["x"]\ndescription = "{inputs}"', "{inputs} is not allowed in description"),
        ('call = "m:f"\nkwargs = { a = ["{nope}"] }', "unknown placeholder '{nope}' in kwargs"),
        ('cmd = ["x"]\nenv = { A = "{nope}" }', "unknown placeholder '{nope}' in env"),
        ('cmd = ["echo", "{a"]', "malformed braces in '{a'"),
        ('cmd = ["echo", "{name!r}"]', "malformed placeholder '{name!r}'"),
        ('cmd = "echo ${HOME}"\nshell = true', "write ${{HOME}} for a shell variable"),
    ],
)
def test_bad_placeholders(task: str, expected: str) -> None:
    touch("a.c")
    message = error(f"[tasks.ok]\ncmd = ['x']\n\n[tasks.t]\n{task}\n")
    assert message.startswith("build.toml:4: task 't': ")
    assert expected in message


def test_literal_braces() -> None:
    g = graph('[tasks.t]\ncmd = ["echo", "{{name}}", "{name}"]\n')
    assert g.tasks["t"].command_text() == "echo '{name}' t"


# ---------------------------------------------------------------------------------------------
# Resolving a task into a job, when it is about to run


def test_inputs_expand_in_place_with_files_created_after_the_graph() -> None:
    touch("src/a.c", "src/b.c")
    g = graph(
        """
        [tasks.compile]
        cmd = ["cc", "-c", "{input}", "-o", "build/{stem}.o"]
        foreach = "src/*.c"
        outputs = ["build/{stem}.o"]

        [tasks.link]
        cmd = ["cc", "{inputs}", "-o", "{outputs}", "--map={inputs}"]
        inputs = ["build/*.o", "extra.o", "build/a.o"]
        outputs = "build/app"
        deps = ["compile"]
        """
    )
    root = g.spec.root
    touch("build/b.o", "build/a.o")  # as if the compile tasks had just run
    link = g.tasks["link"]
    assert link.command_text() == "cc {inputs} -o {outputs} '--map={inputs}'"
    assert resolve_inputs(link, root) == [root / "build/a.o", root / "build/b.o", root / "extra.o"]
    assert resolve_outputs(link, root) == [root / "build/app"]
    job = resolve_job(link, root, {"PATH": "/bin"})
    assert job.argv == (
        "cc",
        "build/a.o",
        "build/b.o",
        "extra.o",
        "-o",
        "build/app",
        "--map=build/a.o build/b.o extra.o",
    )
    assert (job.task, job.cwd, job.root, job.shell_command) == ("link", root, root, None)
    assert job.env == {"PATH": "/bin"}
    compile_a = resolve_job(g.tasks["compile[src/a.c]"], root, {})
    assert compile_a.argv == ("cc", "-c", "src/a.c", "-o", "build/a.o")


def test_shell_command_quotes_inputs_and_job_carries_env_cwd_timeout() -> None:
    touch("in dir/x y.txt", "in dir/z.txt", "tools/.keep")
    g = graph(
        """
        [tasks.t]
        cmd = "cat {inputs} > out/{name}.txt"
        shell = true
        inputs = ["in dir/*.txt"]
        cwd = "tools"
        env = { WHO = "{name}", N = 2 }
        timeout = 1.5
        """
    )
    root = g.spec.root
    job = resolve_job(g.tasks["t"], root, {"WHO": "outer", "KEEP": "1"})
    assert job.shell_command == "cat 'in dir/x y.txt' 'in dir/z.txt' > out/t.txt"
    assert job.argv is None
    assert job.cwd == root / "tools"
    assert job.env == {"WHO": "t", "KEEP": "1", "N": "2"}
    assert job.timeout == 1.5


def test_call_job_expands_args_and_kwargs() -> None:
    touch("data/1.csv", "data/2.csv")
    g = graph(
        """
        [tasks.check]
        call = "tools.checks:run"
        args = ["{name}", "{inputs}", 3]
        kwargs = { files = "{inputs}", label = "n={name}", nested = { x = ["{name}"] } }
        inputs = "data/*.csv"
        """
    )
    task = g.tasks["check"]
    assert task.kind == "call"
    job = resolve_job(task, g.spec.root, {})
    assert job.call == "tools.checks:run"
    assert job.args == ("check", "data/1.csv", "data/2.csv", 3)
    assert job.kwargs == {
        "files": ["data/1.csv", "data/2.csv"],
        "label": "n=check",
        "nested": {"x": ["check"]},
    }
    assert task.command_text() == (
        "tools.checks:run('check', '{inputs}', 3, files='{inputs}', label='n=check', "
        "nested={'x': ['check']})"
    )


def test_inputs_outside_root_stay_absolute(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    touch(str(outside))
    Path("proj").mkdir()
    Path("proj/build.toml").write_text(
        f'[tasks.t]\ncmd = ["cat", "{{inputs}}"]\ninputs = ["{outside}"]\n'
    )
    g = build_graph(load_spec("proj/build.toml"))
    job = resolve_job(g.tasks["t"], g.spec.root, {})
    assert job.argv == ("cat", str(outside))


# ---------------------------------------------------------------------------------------------
# Queries


def test_kinds() -> None:
    g = graph('[tasks.a]\ncmd = ["x"]\n[tasks.b]\ncall = "m:f"\n[tasks.c]\ndeps = ["a", "b"]\n')
    assert [t.kind for t in g.tasks.values()] == ["cmd", "call", "none"]
    assert g.tasks["c"].command_text() == ""


def test_subtree_downstream_dependents_topological_order() -> None:
    g = graph(CHAIN)
    assert g.dependencies("d") == ("b", "c")
    assert g.dependents("a") == ("b", "c")
    assert g.dependents("d") == ()
    assert g.subtree("d") == ["a", "b", "c", "d"]
    assert g.subtree("b") == ["a", "b"]
    assert g.downstream("a") == ["b", "c", "d"]
    assert g.downstream("d") == []
    order = g.topological_order()
    assert sorted(order) == sorted(g.tasks)
    for name in order:
        assert all(order.index(dep) < order.index(name) for dep in g.dependencies(name))


def test_topological_order_puts_deps_first_even_when_declared_later() -> None:
    g = graph('[tasks.all]\ndeps = ["z"]\n\n[tasks.z]\ncmd = ["z"]\n')
    assert g.topological_order() == ["z", "all"]


def test_remaining_path_with_weights() -> None:
    g = graph(CHAIN)
    assert g.remaining_path() == {"a": 3.0, "b": 2.0, "c": 2.0, "d": 1.0, "other": 1.0}
    weights = {"a": 1.0, "b": 10.0, "c": 2.0, "d": 0.5}
    assert g.remaining_path(weights) == {"a": 11.5, "b": 10.5, "c": 2.5, "d": 0.5, "other": 1.0}


def test_select_keeps_transitive_deps() -> None:
    g = graph(CHAIN)
    selected = g.select(["b"])
    assert list(selected.tasks) == ["a", "b"]
    assert selected.targets == ("b",)
    assert selected.dependents("a") == ("b",)
    assert selected.remaining_path() == {"a": 2.0, "b": 1.0}


def test_select_defaults_then_everything() -> None:
    with_default = graph('[build]\ndefault = "c"\n' + CHAIN)
    selected = with_default.select([])
    assert list(selected.tasks) == ["a", "c"]
    assert selected.targets == ("c",)
    everything = graph(CHAIN).select([])
    assert list(everything.tasks) == ["a", "b", "c", "d", "other"]
    assert everything.targets == ("a", "b", "c", "d", "other")


def test_select_base_name_and_instance() -> None:
    touch("src/a.c", "src/b.c")
    g = graph(
        '[tasks.gen]\ncmd = ["g"]\n\n[tasks.cc]\ncmd = ["cc"]\nforeach = "src/*.c"\ndeps = "gen"\n'
    )
    assert g.select(["cc"]).targets == ("cc[src/a.c]", "cc[src/b.c]")
    one = g.select(["cc[src/b.c]"])
    assert list(one.tasks) == ["gen", "cc[src/b.c]"]
    assert one.targets == ("cc[src/b.c]",)


def test_unknown_target_did_you_mean() -> None:
    g = graph('[tasks.link]\ncmd = ["ld"]\n')
    with pytest.raises(UnknownTargetError) as info:
        g.select(["lnk"])
    assert str(info.value) == "unknown target 'lnk' (did you mean 'link'?)"
    assert isinstance(info.value, BuildFileError)
