"""Messages the dashboard's workers post to the UI.

The Session's events reach the screen in one wrapper, :class:`SessionEventArrived`: Textual needs a
Message to hand an event from a worker to the app's handlers, and the wrapper is where snapshots
coalesce (a newer Snapshot replaces one still waiting; decisions and errors are each delivered).
"""

from __future__ import annotations

from textual.message import Message

from planner_tui.model import Snapshot
from planner_tui.runtime.events import SessionError, SessionEvent, SnapshotReady
from planner_tui.runtime.source import GraphSource


class SessionEventArrived(Message):
    """An event of the source's stream (``SnapshotReady``, ``DecisionMade`` or ``SessionError``)."""

    def __init__(self, event: SessionEvent) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        """Only the newest Snapshot matters; a repeated error collapses into the newest; decisions never."""
        if not isinstance(message, SessionEventArrived):
            return False
        mine, theirs = self.event, message.event
        if isinstance(mine, SnapshotReady):
            return isinstance(theirs, SnapshotReady)
        return isinstance(mine, SessionError) and isinstance(theirs, SessionError) and mine == theirs


class FirstLookReady(Message):
    """What could be shown before the source opened: the GPUs and the recorded replicas."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class SourceOpened(Message):
    """The source is open (the graph started or was attached)."""

    def __init__(self, source: GraphSource) -> None:
        super().__init__()
        self.source = source


class ActionFinished(Message):
    """A call on the source finished: ``error`` is None on success."""

    def __init__(self, action: str, message: str, error: str | None = None) -> None:
        super().__init__()
        self.action = action
        self.message = message
        self.error = error
