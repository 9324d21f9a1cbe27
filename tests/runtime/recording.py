"""An in-memory connector that records every scaling call, for the property that advisory and paused
planners never call it. It keeps replica counts like a backend would (new replicas are ready at once).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from planner_tui.config import GraphConfig
from planner_tui.connectors.base import PlannerConnector
from planner_tui.connectors.errors import ComponentNotFound, ConnectorError
from planner_tui.model import ComponentState, LogLine, Phase, ReplicaState, TargetReplica


class RecordingConnector(PlannerConnector):
    """Counts per component; ``calls`` lists every ``set_component_replicas`` target list."""

    kind = "recording"

    def __init__(self, graph: GraphConfig) -> None:
        self.namespace = graph.namespace
        self.graph = graph
        self.counts = {n: c.effective_initial_replicas for n, c in graph.components.items()}
        self.calls: list[list[TargetReplica]] = []
        self.shutdowns: list[bool] = []

    async def initialize(self) -> None:
        return None

    async def shutdown(self, stop_graph: bool = True) -> None:
        self.shutdowns.append(stop_graph)

    async def get_component_states(self) -> Mapping[str, ComponentState]:
        return {
            n: ComponentState(
                c.to_spec(n), self.counts[n], tuple(ReplicaState(n, i, Phase.READY) for i in range(self.counts[n]))
            )
            for n, c in self.graph.components.items()
        }

    async def get_component_replicas(self, component_name: str) -> int:
        if component_name not in self.counts:
            raise ComponentNotFound(component_name, self.counts)
        return self.counts[component_name]

    async def scale_component(self, component_name: str, replicas: int) -> bool:
        await self.set_component_replicas([TargetReplica(component_name=component_name, desired_replicas=replicas)])
        return True

    async def set_component_replicas(self, targets: list[TargetReplica], blocking: bool = False) -> None:
        self.calls.append(list(targets))
        for target in targets:
            name = target.component_name or ""
            if name not in self.counts:
                raise ComponentNotFound(name, self.counts)
            self.counts[name] = target.desired_replicas

    async def get_system_topology(self) -> dict[str, Any]:
        return {}

    async def get_resource_usage(self, component_name: str) -> dict[str, Any]:
        return {}

    async def get_component_metrics(self, component_name: str) -> dict[str, Any]:
        return {}

    async def get_prefill_queue_metrics(self) -> dict[str, Any]:
        return {}

    async def restart_component(self, component_name: str, rolling: bool = True) -> bool:
        return True

    async def get_component_logs(self, component_name: str, lines: int = 100) -> list[LogLine]:
        return []

    def follow_component_logs(self, component_name: str) -> AsyncIterator[LogLine]:
        raise ConnectorError("no logs here")
