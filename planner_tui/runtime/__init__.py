"""The seam between front ends and the core: one Session owning connector, collector, runner and audit log."""

from planner_tui.planner.state import Pin
from planner_tui.runtime.errors import ReadOnlyError
from planner_tui.runtime.events import DecisionMade, SessionError, SessionEvent, SnapshotReady
from planner_tui.runtime.session import Session

__all__ = ["DecisionMade", "Pin", "ReadOnlyError", "Session", "SessionError", "SessionEvent", "SnapshotReady"]
