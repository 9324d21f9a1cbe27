"""Messages the dashboard's workers post to the UI: one class per domain event."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from planner_tui.model import Decision, Snapshot


class SnapshotArrived(Message):
    """A new Snapshot. A newer one replaces an older one still waiting in the queue (coalescing)."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        """Only the newest snapshot matters."""
        return isinstance(message, SnapshotArrived)


class DecisionArrived(Message):
    """The planner made a decision (never coalesced: each one is logged)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__()
        self.decision = decision


class SourceFailed(Message):
    """The source (connector, collector, session) reported a problem; the app keeps running."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def can_replace(self, message: Message) -> bool:
        """Repeated errors collapse into the newest."""
        return isinstance(message, SourceFailed) and message.message == self.message


class SourceOpened(Message):
    """The Session is open (the graph started or was attached)."""

    def __init__(self, source: Any) -> None:
        super().__init__()
        self.source = source


class ActionFinished(Message):
    """A Session call finished: ``error`` is None on success."""

    def __init__(self, action: str, message: str, error: str | None = None) -> None:
        super().__init__()
        self.action = action
        self.message = message
        self.error = error
