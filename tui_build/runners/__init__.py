"""Local backends of the runner protocol: commands as subprocesses, callables on a worker pool.

:class:`LocalRunner` (:mod:`.local`) is what the CLI hands the engine; it sends each job to the
backend that accepts it. The names are imported on first use: the graph needs only
:mod:`.base` (the :class:`~.base.Job`), and the dashboard's process, which imports the graph,
must not pay for subprocess machinery, psutil and the worker pool on its way to a first frame.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .command import CommandRunner
    from .local import LocalRunner
    from .python import PythonRunner

__all__ = ["CommandRunner", "LocalRunner", "PythonRunner"]

_HOMES = {"CommandRunner": ".command", "LocalRunner": ".local", "PythonRunner": ".python"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)
