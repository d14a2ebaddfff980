"""The dashboard's own messages: what the engine did, as one Textual message per UI tick.

The bridge folds a tick's worth of engine events into a :class:`~tui_build.ui.bridge.Batch`;
the app turns that batch into this message, the only place engine events become Textual
messages. Tests can watch them with ``run_test(message_hook=...)``.
"""

from __future__ import annotations

from textual.message import Message

from .feed import Batch


class BuildUpdated(Message):
    """A batch of engine events was folded into the UI's summary."""

    def __init__(self, batch: Batch) -> None:
        super().__init__()
        self.batch = batch
        """What changed: tasks, new output, attempts, start and finish of the build."""
