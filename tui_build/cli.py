"""The `tuibuild` command: arguments, choosing the frontend, exit codes.

Everything here is thin: it reads the build file, builds the graph, wires an engine to a
frontend (the dashboard on a terminal, the console otherwise) and turns the outcome into an
exit code. Errors the user can cause arrive as :class:`BuildFileError` or :class:`UsageError`
and leave as one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .spec import BuildFileError

if TYPE_CHECKING:
    from .events import TaskState
    from .graph import Graph

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SUBCOMMANDS = ("list", "graph", "history", "log", "show")


def _load_asyncio() -> None:
    """Load asyncio without :mod:`ssl` when nothing has loaded either yet.

    asyncio imports ssl only for TLS transports, which tuibuild never opens, and ssl is the
    largest part of its import (6 of ~45 ms here). Hidden while asyncio loads, asyncio takes the
    path it has for Pythons built without ssl; a later ``import ssl`` (user code, Textual) works
    as ever. Task callables run in worker interpreters of their own and are not affected.
    """
    if "ssl" in sys.modules or "asyncio" in sys.modules:
        return
    sys.modules["ssl"] = None  # type: ignore[assignment]  # None: "import ssl" raises ImportError
    try:
        import asyncio  # noqa: F401
    finally:
        del sys.modules["ssl"]


class UsageError(Exception):
    """A command line that cannot be obeyed."""


class _Formatter(argparse.HelpFormatter):
    """argparse's help formatter, as wide as it makes itself, without its `import shutil`.

    argparse makes a formatter while it declares each option, so every run paid for shutil
    (with zlib, bz2 and lzma: 1.5 ms) just to read the terminal's width.
    """

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        from .report.console import terminal_columns

        if width is None:
            width = terminal_columns(fallback=80) - 2  # what argparse computes
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f", "--file", default="build.toml", help="the build file (default: build.toml)"
    )
    parser.add_argument("-C", "--directory", default=None, help="change to DIR first")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tuibuild",
        description="Run the task graph of build.toml, live in the terminal "
        "(headless with --no-tui).",
        epilog="Other commands: tuibuild list | graph | history [RUN] | show [RUN] | log TASK. "
        "Exit codes: 0 succeeded, 1 a task failed or was cancelled, 2 usage or build-file error, "
        "130 interrupted.",
    )
    parser.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="tasks to build (default: [build].default, else all)",
    )
    _common(parser)
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        help="run at most N tasks at once (default: [build].jobs, else CPUs)",
    )
    parser.add_argument(
        "-k",
        "--keep-going",
        action="store_true",
        help="after a failure, run everything that does not depend on it",
    )
    parser.add_argument(
        "--no-tui",
        action="store_true",
        help="plain output for logs and CI (automatic when stdout is not a terminal)",
    )
    parser.add_argument(
        "--output",
        choices=("block", "stream"),
        default="block",
        help="headless: one block per task when it ends (default), or lines live, prefixed",
    )
    parser.add_argument(
        "--exit-on-finish", action="store_true", help="dashboard: close when the build ends"
    )
    parser.add_argument(
        "-n", "--dry-run", action="store_true", help="say what would run and why; run nothing"
    )
    parser.add_argument(
        "-B", "--force", action="store_true", help="run every task, up to date or not"
    )
    parser.add_argument(
        "--failed",
        action="store_true",
        help="re-run the last run's failed, cancelled and blocked tasks and what depends on them",
    )
    parser.add_argument(
        "--events",
        metavar="FILE",
        default=None,
        help="write every engine event as a JSON line to FILE",
    )
    parser.add_argument(
        "--junit", metavar="FILE", default=None, help="write a JUnit XML report to FILE"
    )
    parser.add_argument(
        "--ci",
        choices=("github", "gitlab", "none"),
        default=None,
        help="headless: GitHub groups and annotations, or GitLab sections "
        "(default: detected from GITHUB_ACTIONS / GITLAB_CI)",
    )
    parser.add_argument("--version", action="version", version="tuibuild 0.1.0")
    return parser


def _list_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tuibuild list", description="List the tasks of the build file.")
    _common(parser)
    parser.add_argument("--json", action="store_true", help="one JSON document, for other tools")
    return parser


def _chdir(directory: str | None) -> None:
    if directory is None:
        return
    try:
        os.chdir(directory)
    except OSError as exc:
        raise UsageError(f"cannot change to directory {directory}: {exc.strerror}") from None


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from .graph import build_graph
    from .spec import load_spec

    path = Path(args.file)
    if not path.exists():
        raise UsageError(
            f"no build file {args.file} in {Path.cwd()}"
            " (name one with -f FILE, or change directory with -C DIR)"
        )
    spec = load_spec(path)
    return build_graph(spec)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tuibuild` command; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] in SUBCOMMANDS:
            return _subcommand(args_list[0], args_list[1:])
        args = build_parser().parse_args(args_list)
        args.argv = args_list
        return _build(args)
    except (BuildFileError, UsageError) as exc:
        print(f"tuibuild: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tuibuild: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _subcommand(name: str, argv: list[str]) -> int:
    if name == "list":
        args = _list_parser().parse_args(argv)
        _chdir(args.directory)
        graph = _load(args)
        return _list(graph, args.json)
    if name == "graph":
        args = _graph_parser().parse_args(argv)
        _chdir(args.directory)
        graph = _load(args).select(args.targets)
        from .report.graph_export import export_graph

        sys.stdout.write(export_graph(graph, args.format, _last_run_states(graph)))
        return EXIT_OK
    if name in ("history", "log", "show"):
        return _history_command(name, argv)
    raise UsageError(f"'tuibuild {name}' is not available yet")


def _history_command(name: str, argv: list[str]) -> int:
    """`tuibuild history [RUN]` and `tuibuild log TASK [--run RUN]` (see :mod:`.history`)."""
    from . import history
    from .store import StoreError

    if name == "history":
        parser = _Parser(prog="tuibuild history", description="Recent runs, or one run's tasks.")
        history.add_history_arguments(parser)
    elif name == "show":
        parser = _Parser(
            prog="tuibuild show",
            description="Open a past run in the dashboard, read-only: its tree, states and "
            "outputs (default: the last run). Without a terminal, print its tasks.",
        )
        history.add_history_arguments(parser)
        parser.add_argument("--no-tui", action="store_true", help="print the run's tasks")
    else:
        parser = _Parser(prog="tuibuild log", description="Print a task's full output.")
        history.add_log_arguments(parser)
    _common(parser)
    args = parser.parse_args(argv)
    _chdir(args.directory)
    build_file = history.build_file_of(args)
    try:
        if name == "history":
            return history.print_history(build_file, args.run, args.limit)
        if name == "show":
            interactive = not args.no_tui and sys.stdout.isatty() and sys.stdin.isatty()
            return history.show_run(build_file, args.run or "last", interactive)
        return history.print_log(build_file, args.task, args.run)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def _graph_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tuibuild graph",
        description="Print the task graph (with the last run's states when recorded).",
    )
    parser.add_argument("targets", nargs="*", metavar="TARGET", help="only what these need")
    _common(parser)
    parser.add_argument(
        "--format",
        choices=("tree", "dot", "mermaid", "json"),
        default="tree",
        help="text tree (default), Graphviz dot, Mermaid, or JSON nodes and edges",
    )
    return parser


def _last_run_states(graph: Graph) -> dict[str, TaskState]:
    """Each task's state in the most recent recorded run that ran it; {} without a store."""
    from .events import TaskState
    from .store import Store, StoreError, store_dir

    try:
        store = Store.open_existing(store_dir(graph.spec.path))
    except StoreError:
        return {}
    if store is None:
        return {}
    states: dict[str, TaskState] = {}
    try:
        for run in store.runs(20):
            for result in store.results(run.id):
                if result.task in graph.tasks and result.task not in states:
                    try:
                        states[result.task] = TaskState(result.state)
                    except ValueError:
                        continue
            if len(states) == len(graph.tasks):
                break
    finally:
        store.close()
    return states


def detect_ci(environ: Mapping[str, str]) -> str:
    """ "github" or "gitlab" when running there (as their runners announce), else "none"."""
    if environ.get("GITHUB_ACTIONS") == "true":
        return "github"
    if environ.get("GITLAB_CI") == "true":
        return "gitlab"
    return "none"


def _list(graph, as_json: bool) -> int:  # type: ignore[no-untyped-def]
    tasks = graph.tasks
    if as_json:
        doc = [
            {
                "name": t.name,
                "base": t.base,
                "group": t.group,
                "kind": t.kind,
                "description": t.description,
                "deps": list(t.deps),
                "command": t.command_text(),
                "default": t.name in graph.targets,
            }
            for t in tasks.values()
        ]
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    width = max((len(n) for n in tasks), default=0)
    for task in tasks.values():
        line = f"{task.name:<{width}}  [{task.group}]"
        if task.description:
            line += f"  {task.description}"
        print(line)
        if task.deps:
            print(f"{'':<{width}}    after: {', '.join(task.deps)}")
    return EXIT_OK


def _build(args: argparse.Namespace) -> int:
    _chdir(args.directory)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("-j/--jobs must be at least 1")
    full = _load(args)
    if not full.tasks:
        raise UsageError(f"{args.file} declares no tasks: add one as [tasks.NAME] with cmd = [...]")
    graph = _select(full, args)
    if graph is None:
        return EXIT_OK
    if args.dry_run:
        from .session import dry_run

        dry_run(graph, force=args.force)
        return EXIT_OK
    jobs = args.jobs or graph.spec.jobs or os.cpu_count() or 1
    _load_asyncio()
    import asyncio

    interactive = not args.no_tui and sys.stdout.isatty() and sys.stdin.isatty()
    if interactive:
        # The launcher starts the build, then imports Textual (and closes the store session).
        from .ui import launch

        if launch.available():
            return launch.run_dashboard(graph, args, jobs)
    return asyncio.run(_run_headless(graph, args, jobs))


def _select(full: Graph, args: argparse.Namespace) -> Graph | None:
    """The targets' graph; with --failed, the last run's failures (None: nothing to re-run)."""
    if not args.failed:
        return full.select(args.targets)
    from . import history
    from .store import StoreError

    if args.targets:
        raise UsageError("--failed takes no targets: it re-runs the last run's failures")
    try:
        run_id, names = history.failed_targets(full, full.spec.path)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    if not names:
        print(f"tuibuild: nothing failed in the last run ({run_id})")
        return None
    return full.select(names)


def make_engine(graph, args: argparse.Namespace, jobs: int):  # type: ignore[no-untyped-def]
    """The engine every frontend runs: the local runner, the store, the events file.

    The store's session (lock, up-to-date checker, recorder) is `engine.store_session`; call
    :func:`close_session` when the frontend is done with the engine.
    """
    from .engine import Engine
    from .runners import LocalRunner
    from .session import open_session
    from .store import StoreError
    from .subreaper import become_subreaper

    try:
        session = open_session(
            graph,
            argv=getattr(args, "argv", sys.argv[1:]),
            typed_targets=None if getattr(args, "failed", False) else getattr(args, "targets", ()),
            force=getattr(args, "force", False),
        )
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    become_subreaper()
    engine = Engine(
        graph,
        LocalRunner(jobs),
        jobs=jobs,
        keep_going=args.keep_going,
        run_id=session.run_id,
        weights=session.weights,
        checker=session.checker,
    )
    session.attach(engine)
    engine.store_session = session
    if args.events:
        from .report.jsonl import JsonLinesWriter

        writer = JsonLinesWriter(Path(args.events))
        engine.subscribe(writer)
    if getattr(args, "junit", None):
        from .report.junit import JUnitWriter

        engine.subscribe(JUnitWriter(Path(args.junit)))
    return engine


def close_session(engine) -> None:  # type: ignore[no-untyped-def]
    """Commit what is left and release the build lock (idempotent)."""
    session = engine.store_session
    if session is not None:
        session.close()


def exit_code(outcome: str) -> int:
    return {"succeeded": EXIT_OK, "interrupted": EXIT_INTERRUPTED}.get(outcome, EXIT_FAILED)


async def _run_headless(graph, args: argparse.Namespace, jobs: int) -> int:  # type: ignore[no-untyped-def]
    engine = make_engine(graph, args, jobs)
    reporter = _console_reporter(graph, args)
    engine.subscribe(reporter)
    install_interrupt_handlers(engine)
    try:
        outcome = await engine.run()
    finally:
        await engine.runner.close()
        close_session(engine)
    reporter.summary(engine.summary)
    if engine.summary.tasks and all(
        r.state.value == "up-to-date" for r in engine.summary.tasks.values()
    ):
        from .uptodate import nothing_to_do

        print(nothing_to_do(len(engine.summary.tasks)))
    return exit_code(outcome)


def _console_reporter(graph, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The console reporter, in the flavour of the CI system it runs on (--ci, else detected)."""
    from .report.console import ConsoleReporter, use_color

    ci = args.ci or detect_ci(os.environ)
    options = {"mode": args.output, "color": use_color(sys.stdout), "background": True}
    if ci == "github":
        from .report.github import GitHubReporter

        root = graph.spec.root
        dirs = {n: root / t.spec.cwd if t.spec.cwd else root for n, t in graph.tasks.items()}
        return GitHubReporter(sys.stdout, task_dirs=dirs, **options)
    if ci == "gitlab":
        from .report.gitlab import GitLabReporter

        return GitLabReporter(sys.stdout, **options)
    return ConsoleReporter(sys.stdout, **options)


def install_interrupt_handlers(engine) -> None:  # type: ignore[no-untyped-def]
    """First Ctrl-C (or SIGTERM): cancel everything and finish cleanly. Second: kill at once."""
    import asyncio

    loop = asyncio.get_running_loop()
    presses = 0

    def on_signal() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            print(
                "\ntuibuild: interrupted: stopping running tasks"
                " (press Ctrl-C again to kill at once)",
                file=sys.stderr,
                flush=True,
            )
            engine.interrupt()
        else:
            from .runners.procs import kill_all_descendants

            kill_all_descendants()
            print("tuibuild: killed", file=sys.stderr, flush=True)
            os._exit(EXIT_INTERRUPTED)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
