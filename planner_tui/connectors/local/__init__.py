"""The local connector: a graph's replicas as real processes under circus (one watcher per replica).

Importing this package stays light (circusd imports :mod:`.log_stream` from it): the connector is
loaded on first use of ``LocalConnector``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner_tui.connectors.local.connector import LocalConnector

__all__ = ["LocalConnector"]


def __getattr__(name: str) -> Any:
    if name == "LocalConnector":
        from planner_tui.connectors.local.connector import LocalConnector

        return LocalConnector
    raise AttributeError(name)
