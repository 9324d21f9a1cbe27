"""The Kubernetes backend: a DynamoGraphDeployment, or plain Deployments, through the Kubernetes API.

``open_connector`` is what :mod:`planner_tui.connectors.factory` calls for ``[connector] kind =
"kubernetes"``. The official ``kubernetes`` client is imported only inside this package, and only
when a connector is opened (it costs 0.4 s to import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from planner_tui.connectors.errors import ConnectorError

if TYPE_CHECKING:
    from planner_tui.config.graph import GraphConfig
    from planner_tui.connectors.kubernetes.connector import KubernetesConnector

__all__ = ["open_connector"]


async def open_connector(graph: GraphConfig, *, observe: bool) -> KubernetesConnector:
    """An initialized connector for ``graph``'s ``[connector]`` table (kind ``kubernetes``)."""
    from planner_tui.config.connector import KubernetesSettings
    from planner_tui.connectors.kubernetes.connector import KubernetesConnector

    settings = graph.connector
    if not isinstance(settings, KubernetesSettings):
        raise ConnectorError(f"the graph's connector is {settings.kind!r}, not 'kubernetes'")
    connector = KubernetesConnector(graph, settings, observe=observe)
    await connector.initialize()
    return connector
