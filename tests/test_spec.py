"""build.toml reading and validation: what a user sees when the build file is wrong, and what
every key means when it is right."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tui_build.spec import BuildFileError, BuildSpec, TaskSpec, load_spec, parse_spec


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def load(text: str) -> BuildSpec:
    Path("build.toml").write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return load_spec("build.toml")


def error(text: str) -> str:
    with pytest.raises(BuildFileError) as info:
        load(text)
    return str(info.value)


# ---------------------------------------------------------------------------------------------
# Errors


def test_toml_syntax_error_has_line_and_column() -> None:
    message = error(
        """
        [tasks.a]
        cmd = ["echo"]
        deps = [oops]
        """
    )
    assert message.startswith("build.toml:3:9: invalid TOML: ")


def test_toml_error_at_end_of_document_points_at_last_line() -> None:
    message = error('[tasks.a]\ncmd = ["echo",\n')
    assert message.startswith("build.toml:2: invalid TOML: ")


def test_error_carries_its_parts() -> None:
    with pytest.raises(BuildFileError) as info:
        load('[tasks.a]\ncmd = ["x"]\ncmdd = 1\n')
    assert (info.value.path, info.value.line, info.value.task) == ("build.toml", 1, "a")
    assert info.value.message == "unknown key 'cmdd' (did you mean 'cmd'?)"


def test_missing_file() -> None:
    with pytest.raises(BuildFileError) as info:
        load_spec("nope.toml")
    assert str(info.value) == "nope.toml: cannot read build file: No such file or directory"


def test_not_utf8() -> None:
    Path("build.toml").write_bytes(b"[tasks.a]\ncmd = ['\xff']\n")
    with pytest.raises(BuildFileError, match=r"^build.toml: cannot read build file: not UTF-8"):
        load_spec("build.toml")


def test_unknown_task_key_did_you_mean() -> None:
    message = error(
        """
        [tasks.version]
        cmd = ["true"]

        [tasks.compile]
        cmdd = ["cc"]
        """
    )
    assert message == "build.toml:4: task 'compile': unknown key 'cmdd' (did you mean 'cmd'?)"


def test_unknown_key_without_close_match_lists_keys() -> None:
    message = error("[tasks.a]\nzzzzzz = 1\n")
    assert message.startswith("build.toml:1: task 'a': unknown key 'zzzzzz' (known: cmd, call,")


def test_unknown_top_level_key() -> None:
    message = error('[tasks.a]\ncmd = ["x"]\n\n[task.b]\ncmd = ["y"]\n')
    assert message == "build.toml:4: unknown top-level key 'task' (did you mean 'tasks'?)"


def test_unknown_build_key() -> None:
    message = error('[build]\njobs = 2\ndefualt = "a"\n')
    assert message == "build.toml:3: unknown key 'defualt' in [build] (did you mean 'default'?)"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('timeout = "10"', "key 'timeout' must be a number, got string"),
        ("timeout = 0", "key 'timeout' must be greater than 0, got 0"),
        ("shell = 1", "key 'shell' must be a boolean (true or false), got integer"),
        ("deps = 3", "key 'deps' must be a string or a list of strings, got integer"),
        ('inputs = ["a", 2]', "key 'inputs' must be a list of strings, item 2 is integer 2"),
        ('check = "size"', "key 'check' must be \"mtime\" or \"hash\", got 'size'"),
        ('call = "tools.checks"', "key 'call' must be 'module:function'"),
        ('args = "x"', "key 'args' must be a list, got string"),
        ("kwargs = [1]", "key 'kwargs' must be a table, got array"),
        ("env = { A = [1] }", "key 'env': variable 'A' must be a string, got array"),
        ("matrix = { lang = [] }", "key 'matrix': 'lang' must be a non-empty list"),
        ("matrix = { lang = 'en' }", "key 'matrix': 'lang' must be a non-empty list, got string"),
        ("matrix = { name = ['a'] }", "key 'matrix': 'name' is a reserved placeholder name"),
        ("matrix = { x = ['a', 'a'] }", "key 'matrix': 'x' repeats the value 'a'"),
        ("cmd = []", "key 'cmd' must not be empty"),
        ("description = 1.5", "key 'description' must be a string, got float"),
    ],
)
def test_wrong_types(line: str, expected: str) -> None:
    message = error(f'[tasks.ok]\ncmd = ["x"]\n\n[tasks.bad]\n{line}\n')
    assert message.startswith(f"build.toml:4: task 'bad': {expected}")


def test_cmd_and_call() -> None:
    message = error('[tasks.a]\ncmd = ["x"]\ncall = "m:f"\n')
    assert message == (
        "build.toml:1: task 'a': both 'cmd' and 'call' are set; a task runs one or the other"
    )


def test_string_cmd_without_shell() -> None:
    message = error('# comment\n[tasks.a]\ncmd = "make all"\n')
    assert message == (
        "build.toml:2: task 'a': key 'cmd' is a string: set shell = true to run it with "
        "/bin/sh -c, or give a list of arguments"
    )


def test_shell_with_list_cmd() -> None:
    message = error('[tasks.a]\ncmd = ["make"]\nshell = true\n')
    assert (
        message == "build.toml:1: task 'a': shell = true needs 'cmd' to be one string, got a list"
    )


def test_args_without_call() -> None:
    assert error('[tasks.a]\ncmd = ["x"]\nargs = [1]\n').endswith(
        "'args' and 'kwargs' are only used with 'call'"
    )


def test_foreach_and_matrix() -> None:
    message = error('[tasks.a]\nforeach = "*.c"\nmatrix = { x = [1] }\n')
    assert message == (
        "build.toml:1: task 'a': 'foreach' and 'matrix' cannot both be set on one task"
    )


def test_unknown_pool_did_you_mean() -> None:
    message = error('[pools]\nlink = 1\n\n[tasks.a]\ncmd = ["x"]\npool = "lnk"\n')
    assert message == "build.toml:4: task 'a': unknown pool 'lnk' (did you mean 'link'?)"


def test_unknown_pool_without_pools() -> None:
    message = error('[tasks.a]\npool = "link"\n')
    assert message == "build.toml:1: task 'a': unknown pool 'link' ([pools] is empty)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[pools]\nlink = 0\n", "2: pool 'link' must be an integer >= 1, got integer 0"),
        ("[build]\njobs = 0\n", "2: [build]: key 'jobs' must be at least 1, got 0"),
        ("[build]\njobs = true\n", "2: [build]: key 'jobs' must be an integer, got boolean"),
        (
            "[build]\nstall_after = -1\n",
            "2: [build]: key 'stall_after' must be greater than 0, got -1",
        ),
        ("[build]\nkeep_runs = 1.5\n", "2: [build]: key 'keep_runs' must be an integer, got float"),
        ("build = 3\n", "1: 'build' must be a table, got integer"),
        ("[tasks]\na = 3\n", "2: task 'a': must be a table, got integer"),
    ],
)
def test_build_and_pools_errors(text: str, expected: str) -> None:
    assert error(text) == f"build.toml:{expected}"


def test_unknown_default_target() -> None:
    message = error('[build]\ndefault = ["lnk"]\n\n[tasks.link]\ncmd = ["x"]\n')
    assert message == (
        "build.toml:2: [build]: default target 'lnk' is not a task (did you mean 'link'?)"
    )


def test_unknown_extends_did_you_mean() -> None:
    message = error('[templates.cc]\ncmd = ["cc"]\n\n[tasks.a]\nextends = "ccc"\n')
    assert message == (
        "build.toml:4: task 'a': extends unknown template or task 'ccc' (did you mean 'cc'?)"
    )


def test_extends_cycle_prints_chain() -> None:
    message = error(
        """
        [tasks.a]
        extends = "b"

        [tasks.b]
        extends = "c"

        [tasks.c]
        extends = "a"
        """
    )
    assert message == "build.toml:1: task 'a': extends cycle: a -> b -> c -> a"


def test_extends_cycle_between_templates() -> None:
    message = error('[templates.x]\nextends = "y"\n\n[templates.y]\nextends = "x"\n')
    assert message == "build.toml:1: template 'x': extends cycle: x -> y -> x"


def test_template_keys_are_validated_at_the_template_line() -> None:
    message = error('[tasks.a]\ncmd = ["x"]\n\n[templates.cc]\noutptus = ["a"]\n')
    assert message == (
        "build.toml:4: template 'cc': unknown key 'outptus' (did you mean 'outputs'?)"
    )


def test_duplicate_task() -> None:
    message = error(
        """
        [tasks.a]
        cmd = ["x"]

        [tasks.b]
        cmd = ["y"]

        [tasks."a"]
        cmd = ["z"]
        """
    )
    assert message == "build.toml:7: task 'a' is defined twice (lines 1 and 7)"


def test_duplicate_inline_task() -> None:
    message = error('[tasks]\na = { cmd = ["x"] }\nb = { cmd = ["x"] }\na = { cmd = ["y"] }\n')
    assert message == "build.toml:4: task 'a' is defined twice (lines 2 and 4)"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a[1]", "task name contains '[' ']', reserved for foreach and matrix instances"),
        ("a=b", "task name contains '=', reserved for foreach and matrix instances"),
        ("a b", "task name may contain only letters, digits, '_', '-', '.' and '/'"),
    ],
)
def test_bad_task_name(name: str, expected: str) -> None:
    message = error(f'[tasks.ok]\ncmd = ["x"]\n\n[tasks."{name}"]\ncmd = ["x"]\n')
    assert message == f"build.toml:4: task '{name}': {expected}"


def test_absolute_path_shown_when_given_absolute(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "build.toml"
    path.parent.mkdir()
    path.write_text('[tasks.a]\ncmd = "x"\n')
    with pytest.raises(BuildFileError) as info:
        load_spec(path)
    assert str(info.value).startswith(f"{path}:1: task 'a': ")


# ---------------------------------------------------------------------------------------------
# Line numbers


def test_lines_of_headers_subtables_and_inline_forms() -> None:
    spec = load(
        """
        # a comment
        [tasks.plain]
        cmd = ["x"]

        [tasks."dotted.name"]
        cmd = ["x"]

        [tasks.sub.env]
        A = "1"

        [tasks.late]
        description = '''
        [tasks.not_a_header]
        '''

        [tasks]
        inline = { cmd = ["x"] }
        dotted_key.cmd = ["x"]
        dotted_key.deps = ["inline"]
        """
    )
    lines = {name: task.line for name, task in spec.tasks.items()}
    assert lines == {
        "plain": 2,
        "dotted.name": 5,
        "sub": 8,
        "late": 11,
        "inline": 17,
        "dotted_key": 18,
    }


def test_error_inside_inline_task_points_at_its_line() -> None:
    message = error('[tasks]\na = { cmd = ["x"] }\nb = { cmd = ["x"], tiemout = 3 }\n')
    assert message == "build.toml:3: task 'b': unknown key 'tiemout' (did you mean 'timeout'?)"


# ---------------------------------------------------------------------------------------------
# The happy path


def test_every_key() -> None:
    spec = load(
        """
        [build]
        default = "all"
        jobs = 3
        env = { A = "x", N = 1, F = 1.5, B = true }
        keep_runs = 5
        stall_after = 12

        [pools]
        link = 1

        [tasks.gen]
        cmd = ["python", "gen.py"]
        inputs = "gen.py"
        outputs = ["out/a", "out/b"]
        cwd = "tools"
        env = { LEVEL = 3 }
        timeout = 2.5
        always = true
        check = "hash"
        description = "Generate"
        group = "codegen"
        pool = "link"

        [tasks.sh]
        cmd = "echo $HOME"
        shell = true
        deps = "gen"

        [tasks.py]
        call = "tools.checks:run_tests"
        args = ["build/app", 1, [2, 3]]
        kwargs = { verbose = true }

        [tasks.each]
        cmd = ["cc", "{input}"]
        foreach = ["src/*.c", "lib/*.c"]

        [tasks.docs]
        cmd = ["echo", "{lang}"]
        matrix = { lang = ["en", "fr"], level = [1, 2.5, true] }

        [tasks.all]
        deps = ["gen", "sh", "py"]
        """
    )
    assert spec.path == Path.cwd() / "build.toml"
    assert spec.root == Path.cwd()
    assert spec.default == ("all",)
    assert spec.jobs == 3
    assert spec.env == {"A": "x", "N": "1", "F": "1.5", "B": "true"}
    assert (spec.keep_runs, spec.stall_after) == (5, 12.0)
    assert spec.pools == {"link": 1}
    assert list(spec.tasks) == ["gen", "sh", "py", "each", "docs", "all"]
    assert spec.tasks["gen"] == TaskSpec(
        name="gen",
        line=11,
        cmd=("python", "gen.py"),
        inputs=("gen.py",),
        outputs=("out/a", "out/b"),
        cwd="tools",
        env={"LEVEL": "3"},
        timeout=2.5,
        always=True,
        check="hash",
        description="Generate",
        group="codegen",
        pool="link",
    )
    assert spec.tasks["sh"].cmd == "echo $HOME"
    assert spec.tasks["sh"].shell is True
    assert spec.tasks["sh"].deps == ("gen",)
    assert spec.tasks["py"].call == "tools.checks:run_tests"
    assert spec.tasks["py"].args == ("build/app", 1, [2, 3])
    assert spec.tasks["py"].kwargs == {"verbose": True}
    assert spec.tasks["each"].foreach == ("src/*.c", "lib/*.c")
    assert spec.tasks["docs"].matrix == {"lang": ("en", "fr"), "level": ("1", "2.5", "true")}
    assert list(spec.tasks["docs"].matrix) == ["lang", "level"]
    aggregate = spec.tasks["all"]
    assert (aggregate.cmd, aggregate.call, aggregate.group) == (None, None, "all")


def test_defaults() -> None:
    spec = load('[tasks.a]\ncmd = ["x"]\n')
    assert (spec.default, spec.jobs, spec.env, spec.keep_runs, spec.stall_after) == (
        (),
        None,
        {},
        20,
        60.0,
    )
    task = spec.tasks["a"]
    assert (task.shell, task.timeout, task.always, task.check, task.group) == (
        False,
        None,
        False,
        "mtime",
        "a",
    )


def test_empty_file() -> None:
    spec = load("")
    assert spec.tasks == {}


def test_extends_templates_of_templates_and_override_key_by_key() -> None:
    spec = load(
        """
        [templates.base]
        env = { CC = "gcc" }
        timeout = 10
        check = "hash"

        [templates.cc]
        extends = "base"
        cmd = ["cc", "-c", "{input}"]
        inputs = ["{input}"]
        timeout = 20

        [tasks.compile]
        extends = "cc"
        foreach = "src/*.c"
        env = { CC = "clang" }

        [tasks.compile_debug]
        extends = "compile"
        cmd = ["cc", "-g", "-c", "{input}"]
        """
    )
    compile_ = spec.tasks["compile"]
    assert compile_.line == 12
    assert compile_.extends == "cc"
    assert compile_.cmd == ("cc", "-c", "{input}")
    assert compile_.inputs == ("{input}",)
    assert compile_.timeout == 20.0  # cc overrides base
    assert compile_.check == "hash"  # from base, two levels up
    assert compile_.env == {"CC": "clang"}  # a whole table replaces, not merges
    assert compile_.group == "compile"

    debug = spec.tasks["compile_debug"]
    assert debug.line == 17
    assert debug.extends == "compile"
    assert debug.cmd == ("cc", "-g", "-c", "{input}")
    assert debug.foreach == ("src/*.c",)
    assert debug.env == {"CC": "clang"}
    assert debug.group == "compile_debug"  # the default group is the task's own name


def test_extends_checks_combined_keys() -> None:
    message = error('[templates.t]\ncmd = "make"\n\n[tasks.a]\nextends = "t"\n')
    assert message.startswith("build.toml:4: task 'a': key 'cmd' is a string: set shell = true")
    spec = load('[templates.t]\ncmd = "make"\n\n[tasks.a]\nextends = "t"\nshell = true\n')
    assert spec.tasks["a"].cmd == "make"


def test_parse_spec_with_a_path_that_does_not_exist() -> None:
    spec = parse_spec('[tasks.a]\ncmd = ["x"]\n', Path("sub/build.toml"))
    assert spec.path == Path.cwd() / "sub" / "build.toml"
    assert spec.root == Path.cwd() / "sub"


def test_own_call_replaces_an_inherited_cmd(tmp_path: Path) -> None:
    text = '[templates.t]\ncmd = ["cc"]\n[tasks.a]\nextends = "t"\ncall = "m:f"\n'
    spec = parse_spec(text, tmp_path / "build.toml")
    assert spec.tasks["a"].call == "m:f" and spec.tasks["a"].cmd is None
