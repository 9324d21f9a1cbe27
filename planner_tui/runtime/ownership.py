"""One owner per graph: the planner (a Session: dashboard, ``plan``) that holds the graph's lease.

The lease mechanism is :mod:`planner_tui.config.leases` (the local connector takes the writer's lease
there too); this module names what the runtime uses of it.
"""

from __future__ import annotations

from planner_tui.config.leases import GraphLease, GraphOwnedError, OwnerInfo, lease_path, read_owner

__all__ = ["GraphLease", "GraphOwnedError", "OwnerInfo", "lease_path", "read_owner"]
