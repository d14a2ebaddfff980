"""The `tuibuild` command: arguments, choosing the frontend, exit codes.

Everything here is thin: it reads the build file, builds the graph, wires an engine to a
frontend (the dashboard on a terminal, the console otherwise) and turns the outcome into an
exit code. Errors the user can cause arrive as :class:`BuildFileError` or :class:`UsageError`
and leave as one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from .spec import BuildFileError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SUBCOMMANDS = ("list", "graph", "history", "log")


class UsageError(Exception):
    """A command line that cannot be obeyed."""


class _Parser(argparse.ArgumentParser):
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
        epilog="Other commands: tuibuild list | graph | history [RUN] | log TASK. "
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
        "--events",
        metavar="FILE",
        default=None,
        help="write every engine event as a JSON line to FILE",
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
        return _build(build_parser().parse_args(args_list))
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
    raise UsageError(f"'tuibuild {name}' is not available yet")


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
    graph = _load(args).select(args.targets)
    jobs = args.jobs or graph.spec.jobs or os.cpu_count() or 1
    interactive = not args.no_tui and sys.stdout.isatty() and sys.stdin.isatty()
    if interactive:
        try:
            from .ui.app import run_dashboard
        except ImportError:
            pass
        else:
            return run_dashboard(graph, args, jobs)
    return asyncio.run(_run_headless(graph, args, jobs))


def make_engine(graph, args: argparse.Namespace, jobs: int):  # type: ignore[no-untyped-def]
    """The engine every frontend runs: the local runner, the store, the events file."""
    from .engine import Engine
    from .runners import LocalRunner
    from .runners.procs import become_subreaper

    become_subreaper()
    engine = Engine(graph, LocalRunner(jobs), jobs=jobs, keep_going=args.keep_going)
    if args.events:
        from .report.jsonl import JsonLinesWriter

        writer = JsonLinesWriter(Path(args.events))
        engine.subscribe(writer)
    return engine


def exit_code(outcome: str) -> int:
    return {"succeeded": EXIT_OK, "interrupted": EXIT_INTERRUPTED}.get(outcome, EXIT_FAILED)


async def _run_headless(graph, args: argparse.Namespace, jobs: int) -> int:  # type: ignore[no-untyped-def]
    from .report.console import ConsoleReporter, use_color

    engine = make_engine(graph, args, jobs)
    reporter = ConsoleReporter(sys.stdout, mode=args.output, color=use_color(sys.stdout))
    engine.subscribe(reporter)
    install_interrupt_handlers(engine)
    try:
        outcome = await engine.run()
    finally:
        await engine.runner.close()
    reporter.summary(engine.summary)
    return exit_code(outcome)


def install_interrupt_handlers(engine) -> None:  # type: ignore[no-untyped-def]
    """First Ctrl-C (or SIGTERM): cancel everything and finish cleanly. Second: kill at once."""
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
