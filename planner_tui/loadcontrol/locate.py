"""Which component of a graph is the simulated frontend whose load can be controlled."""

from __future__ import annotations

from planner_tui.config.graph import GraphConfig
from planner_tui.model.components import Role

#: the sim listens on loopback unless asked otherwise (see planner_tui.sim.auth.check_bind_host)
LOOPBACK = "127.0.0.1"


def load_control_url(graph: GraphConfig) -> str | None:
    """The control URL of the graph's simulated frontend (``simulated = true``, role frontend), None without one.

    The graph file says which component is the sim (its ``simulated`` flag); the sim frontend listens on
    loopback at its fixed port.
    """
    for comp in graph.components.values():
        if comp.simulated and comp.role is Role.FRONTEND and comp.port is not None:
            return f"http://{LOOPBACK}:{comp.port}"
    return None
