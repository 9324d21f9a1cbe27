"""Events a Session publishes to its subscribers (the dashboard, the headless command, tests)."""

from __future__ import annotations

from dataclasses import dataclass

from planner_tui.model.decisions import Decision
from planner_tui.model.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class SnapshotReady:
    """The collector produced a new Snapshot."""

    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class DecisionMade:
    """The planner made (and recorded) a Decision."""

    decision: Decision


@dataclass(frozen=True, slots=True)
class SessionError:
    """Something went wrong in the background (a tick, the audit log, the collector); the session goes on."""

    message: str


SessionEvent = SnapshotReady | DecisionMade | SessionError
