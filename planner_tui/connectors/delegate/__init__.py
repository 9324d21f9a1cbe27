"""The ``global`` connector: scaling decisions go to a Global Planner service, which applies them.

Loaded by :mod:`planner_tui.connectors.factory` when a graph file says ``[connector] kind = "global"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner_tui.config.graph import GraphConfig
    from planner_tui.connectors.delegate.connector import DelegateConnector

__all__ = ["open_connector"]


async def open_connector(graph: GraphConfig, *, observe: bool = False) -> DelegateConnector:
    """An initialized connector for ``graph``. ``observe=True`` only reads: the service is never asked
    to scale (a read-only connector sends nothing)."""
    from planner_tui.config.connector import GlobalSettings, LocalSettings
    from planner_tui.connectors.delegate.connector import DelegateConnector, LocalDelegateConnector

    local = isinstance(graph.connector, GlobalSettings) and isinstance(graph.connector.execution, LocalSettings)
    connector = (LocalDelegateConnector if local else DelegateConnector)(graph, observe=observe)
    await connector.initialize()
    return connector
