"""The local connector: a graph's replicas as real processes under circus (one watcher per replica).

Importing this package stays light (circusd imports :mod:`.log_stream` from it): the connector is
loaded on first use of ``LocalConnector``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner_tui.config.graph import GraphConfig
    from planner_tui.connectors.local.connector import LocalConnector

__all__ = ["LocalConnector", "attach_namespace", "open_connector"]


async def open_connector(graph: GraphConfig, *, observe: bool = False) -> LocalConnector:
    """The backend's entry for :mod:`planner_tui.connectors.factory`: an initialized connector.

    Starts (or attaches to) the graph; ``observe=True`` attaches strictly read-only to the running graph
    of ``graph.namespace`` and starts nothing.
    """
    from planner_tui.connectors.local.connector import LocalConnector

    if observe:
        return await LocalConnector.attach(graph.namespace, observe=True)
    return await LocalConnector.create(graph.namespace, graph=graph)


async def attach_namespace(namespace: str, *, observe: bool = True) -> LocalConnector:
    """Attach to the running local graph of ``namespace`` through its state file (no graph file needed)."""
    from planner_tui.connectors.local.connector import LocalConnector

    return await LocalConnector.attach(namespace, observe=observe)


def __getattr__(name: str) -> Any:
    if name == "LocalConnector":
        from planner_tui.connectors.local.connector import LocalConnector

        return LocalConnector
    raise AttributeError(name)
