"""The seam between front ends and the core: one Session owning connector, collector, runner and audit log."""

from planner_tui.planner.state import Pin
from planner_tui.runtime.attach import open_graph
from planner_tui.runtime.errors import ReadOnlyError
from planner_tui.runtime.events import DecisionMade, SessionError, SessionEvent, SnapshotReady
from planner_tui.runtime.observer import GraphObserver, ObserverError
from planner_tui.runtime.ownership import GraphOwnedError, OwnerInfo, read_owner
from planner_tui.runtime.session import Session

__all__ = [
    "DecisionMade",
    "GraphObserver",
    "GraphOwnedError",
    "ObserverError",
    "OwnerInfo",
    "Pin",
    "ReadOnlyError",
    "Session",
    "SessionError",
    "SessionEvent",
    "SnapshotReady",
    "open_graph",
    "read_owner",
]
