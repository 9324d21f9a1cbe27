"""Builds the connector a graph file names: the one place that knows the backends.

Each backend is a package of :mod:`planner_tui.connectors` with an ``open_connector(graph, *,
observe)`` coroutine that returns an initialized connector; it is imported only when a graph uses
it (the Kubernetes client alone costs 0.4 s to import). ``observe=True`` asks for a strictly
read-only connector: it starts, scales, restarts and records nothing.

To add a backend: a settings class in :mod:`planner_tui.config.connector`, a package here with
``open_connector``, and one line in :data:`BACKENDS`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol, cast

from planner_tui.connectors.errors import ConnectorError

if TYPE_CHECKING:
    from planner_tui.config.graph import GraphConfig
    from planner_tui.connectors.base import PlannerConnector

#: ``[connector] kind`` -> the package that implements it
BACKENDS: dict[str, str] = {
    "local": "planner_tui.connectors.local",
    "kubernetes": "planner_tui.connectors.kubernetes",
    "global": "planner_tui.connectors.delegate",
}


class _Opener(Protocol):
    async def __call__(self, graph: GraphConfig, *, observe: bool) -> PlannerConnector: ...


def _opener(kind: str) -> _Opener:
    module_name = BACKENDS.get(kind)
    if module_name is None:
        raise ConnectorError(f"unknown connector kind {kind!r}; known: {', '.join(BACKENDS)}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConnectorError(
            f"the {kind} connector cannot be loaded ({exc}); reinstall planner-tui with its dependencies"
        ) from exc
    return cast(_Opener, module.open_connector)


async def open_connector(graph: GraphConfig, *, observe: bool = False) -> PlannerConnector:
    """An initialized connector for ``graph``'s ``[connector]`` (local when the table is absent)."""
    return await _opener(graph.connector.kind)(graph, observe=observe)


async def observe_graph(namespace: str, graph: GraphConfig | None = None) -> tuple[PlannerConnector, GraphConfig]:
    """A read-only connector on a running graph, and the graph's configuration.

    Through ``graph``'s backend when the graph file is known; else the local graph of ``namespace``
    found through its state file (only local graphs leave one), whose configuration comes from there.
    """
    if graph is not None:
        return await open_connector(graph, observe=True), graph
    from planner_tui.connectors.local import attach_namespace

    connector = await attach_namespace(namespace, observe=True)
    return connector, connector.graph
