"""The seam between front ends and the core: one Session owning connector, collector, runner and audit log.

Names are imported on first use, so a command that only needs the ownership lease (``status``)
does not pay for the whole runtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner_tui.planner.state import Pin
    from planner_tui.runtime.attach import open_graph
    from planner_tui.runtime.errors import ReadOnlyError
    from planner_tui.runtime.events import DecisionMade, SessionError, SessionEvent, SnapshotReady
    from planner_tui.runtime.observer import GraphObserver, ObserverError
    from planner_tui.runtime.ownership import GraphOwnedError, OwnerInfo, read_owner
    from planner_tui.runtime.session import Session
    from planner_tui.runtime.source import GraphFeed, GraphSource, SeriesHistory

_WHERE = {
    "Pin": "planner_tui.planner.state",
    "open_graph": "planner_tui.runtime.attach",
    "ReadOnlyError": "planner_tui.runtime.errors",
    "DecisionMade": "planner_tui.runtime.events",
    "SessionError": "planner_tui.runtime.events",
    "SessionEvent": "planner_tui.runtime.events",
    "SnapshotReady": "planner_tui.runtime.events",
    "GraphObserver": "planner_tui.runtime.observer",
    "ObserverError": "planner_tui.runtime.observer",
    "GraphOwnedError": "planner_tui.runtime.ownership",
    "OwnerInfo": "planner_tui.runtime.ownership",
    "read_owner": "planner_tui.runtime.ownership",
    "Session": "planner_tui.runtime.session",
    "GraphFeed": "planner_tui.runtime.source",
    "GraphSource": "planner_tui.runtime.source",
    "SeriesHistory": "planner_tui.runtime.source",
}

__all__ = [
    "DecisionMade",
    "GraphFeed",
    "GraphObserver",
    "GraphOwnedError",
    "GraphSource",
    "ObserverError",
    "OwnerInfo",
    "Pin",
    "ReadOnlyError",
    "SeriesHistory",
    "Session",
    "SessionError",
    "SessionEvent",
    "SnapshotReady",
    "open_graph",
    "read_owner",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'planner_tui.runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
