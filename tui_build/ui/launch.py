"""Starting and closing the dashboard, without importing Textual until the build runs.

Importing Textual takes about a quarter of a second, so :func:`run_dashboard` starts the engine
first, in a process of its own (:mod:`.engine_process`; on a thread, :mod:`.bridge`, where the
system cannot fork), and only then imports the app: the first tasks run while the UI is still
coming up. When the app closes, :func:`finish` stops the engine
(killing whatever still runs), records the run and releases the build lock exactly as headless
mode does (`cli.close_session`), then the terminal gets the console summary.

Nothing here imports Textual at module level (the engine-only test checks `sys.modules`).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..events import RunSummary
    from ..graph import Graph
    from ..store_schema import ResultRecord, RunRecord
    from .bridge import Bridge
    from .engine_process import ProcessBridge


def available() -> bool:
    """True when Textual can be imported (without importing it)."""
    return importlib.util.find_spec("textual") is not None


def start(graph: Graph, args: argparse.Namespace, jobs: int) -> Bridge | ProcessBridge:
    """The engine every frontend runs (store session included), already running.

    In a process of its own where the system can fork (:mod:`.engine_process`: the UI and the
    engine then never wait for each other's GIL), else on a thread (`TUIBUILD_ENGINE=thread`
    asks for the thread). Raises :class:`~tui_build.cli.UsageError` when the build cannot start
    (another tuibuild holds the build's lock).
    """
    bridge = launch_engine(graph, args, jobs)
    try:
        wait_started(bridge)
    except BaseException:
        finish(bridge)
        raise
    return bridge


def launch_engine(graph: Graph, args: argparse.Namespace, jobs: int) -> Bridge | ProcessBridge:
    """Start the engine (see :func:`start`) without waiting for its store session."""
    if hasattr(os, "fork") and os.environ.get("TUIBUILD_ENGINE", "process") != "thread":
        from .engine_process import ProcessBridge

        process = ProcessBridge(graph, args, jobs)
        process.start()
        return process
    from ..cli import make_engine
    from .bridge import Bridge

    bridge = Bridge(make_engine(graph, args, jobs), threaded=True)
    bridge.start()
    return bridge


def wait_started(bridge: Bridge | ProcessBridge) -> None:
    """Wait for a process's engine to have opened the store; a failure the user can fix as a
    UsageError, another as :class:`~.engine_process.EngineStartError`. Call :func:`finish`
    either way."""
    from .engine_process import EngineStartError, ProcessBridge

    if not isinstance(bridge, ProcessBridge):
        return
    try:
        bridge.wait_started()
    except EngineStartError as exc:
        if exc.usage:
            from ..cli import UsageError

            raise UsageError(str(exc)) from None
        raise


def _show_printed(bridge: Bridge | ProcessBridge) -> None:
    """What the engine's process printed, now that the app is gone (see ProcessBridge)."""
    from .engine_process import ProcessBridge

    if isinstance(bridge, ProcessBridge) and (printed := bridge.printed()):
        sys.stderr.write(printed if printed.endswith("\n") else printed + "\n")


def finish(bridge: Bridge | ProcessBridge) -> RunSummary:
    """Stop the engine, kill any leftovers, close the store session; the build's summary.

    Idempotent, and safe whatever state the app left the build in: tasks still running are
    cancelled first, so the run is recorded with the outcome the user saw ("cancelled" after
    `q`, "interrupted" after a signal).
    """
    from ..cli import close_session
    from .engine_process import ProcessBridge

    bridge.stop()
    leftovers = bridge.alive  # the engine did not stop in time: never leave processes behind
    if isinstance(bridge, ProcessBridge):
        if leftovers:
            bridge.kill()
        # A child that died without its goodbye left its tasks to us (we are the subreaper).
        leftovers = leftovers or not bridge.said_goodbye
    if leftovers:
        from ..runners.procs import kill_all_descendants

        kill_all_descendants()
    if not isinstance(bridge, ProcessBridge):  # the child closes its own session
        close_session(bridge.engine)
    return bridge.final_summary()


def run_dashboard(graph: Graph, args: argparse.Namespace, jobs: int) -> int:
    """Run the build under the dashboard; print the summary after it closes; the exit code."""
    from ..cli import EXIT_FAILED, exit_code
    from .engine_process import EngineStartError

    bridge = launch_engine(graph, args, jobs)  # the build starts before Textual is imported
    not_started: EngineStartError | None = None
    try:
        from .app import make_app

        wait_started(bridge)
        app = make_app(graph, bridge, exit_on_finish=bool(getattr(args, "exit_on_finish", False)))

        def close(signum: int, frame: object) -> None:
            bridge.interrupt()  # the build ends "interrupted": exit status 130
            app.exit()  # then, below, the engine stops and kills what runs: no orphans

        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {sig: signal.signal(sig, close) for sig in signals}
        try:
            app.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    except EngineStartError as exc:  # not the user's doing (that is a UsageError)
        not_started = exc
    finally:
        summary = finish(bridge)
    _show_printed(bridge)
    if not_started is not None:
        print(f"tuibuild: error: {not_started}", file=sys.stderr)
        return EXIT_FAILED
    from ..report.console import ConsoleReporter, use_color

    ConsoleReporter(sys.stdout, color=use_color(sys.stdout)).summary(summary)
    if bridge.error is not None:
        print(f"tuibuild: internal error: {bridge.error!r}", file=sys.stderr)
    return exit_code(summary.outcome or "failed")


def show_past_run(
    run: RunRecord, results: list[ResultRecord], graph: Graph | None, build_file: str
) -> int:
    """Open a recorded run in the dashboard, read-only (`tuibuild show`); exit code 0.

    `graph` is the build file's as it is now (None when it does not parse): it gives the tree
    its dependencies and the rows their pools.
    """
    from .past import PastRun

    feed = PastRun(run, results, graph.tasks if graph is not None else {}, build_file)
    feed.start()
    try:
        from .app import make_app

        make_app(graph, feed, system_stats=False).run()
    finally:
        feed.stop()
    if feed.error is not None:
        print(f"tuibuild: could not read all of run {run.id}: {feed.error}", file=sys.stderr)
    return 0
