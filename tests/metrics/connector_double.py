"""A minimal PlannerConnector over fixed component states, for the collector's connector boundary.

The real LocalConnector is built in another area; until it is on main, collector tests describe the
graph with this double while every metrics endpoint and pid behind it is a real process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from planner_tui.connectors.base import PlannerConnector
from planner_tui.model import ComponentSpec, ComponentState, LogLine, Phase, ReplicaState, TargetReplica


def replica(
    component: str,
    index: int,
    *,
    pid: int | None = None,
    metrics_url: str | None = None,
    phase: Phase = Phase.READY,
    gpus: tuple[int, ...] = (),
) -> ReplicaState:
    return ReplicaState(component, index, phase, pid=pid, metrics_url=metrics_url, gpus=gpus)


def component(name: str, role: str, *replicas: ReplicaState) -> ComponentState:
    spec = ComponentSpec(name=name, role=role, max_replicas=max(1, len(replicas)))
    return ComponentState(spec=spec, desired_replicas=len(replicas), replicas=tuple(replicas))


class StaticConnector(PlannerConnector):
    """Answers ``get_component_states`` from ``states``; ``hold`` makes it hang until set. Has the
    :class:`~planner_tui.connectors.capabilities.GpuInventory` capability, as the local connector."""

    kind = "local"

    def __init__(self, namespace: str, *states: ComponentState) -> None:
        self.namespace = namespace
        self.states: dict[str, ComponentState] = {s.name: s for s in states}
        self.hold: asyncio.Event | None = None
        self.calls = 0

    async def initialize(self) -> None:
        pass

    async def shutdown(self, stop_graph: bool = True) -> None:
        pass

    async def get_component_states(self) -> Mapping[str, ComponentState]:
        self.calls += 1
        if self.hold is not None:
            await self.hold.wait()
        return dict(self.states)

    async def get_component_replicas(self, component_name: str) -> int:
        return self.states[component_name].desired_replicas

    def _outside(self) -> Any:
        raise NotImplementedError("not part of the collector's connector boundary")

    async def scale_component(self, component_name: str, replicas: int) -> bool:
        return bool(self._outside())

    async def set_component_replicas(self, targets: list[TargetReplica], blocking: bool = False) -> None:
        self._outside()

    # GpuInventory: the replicas' GPU indices are this machine's (as a local graph's are)
    async def gpu_holders(self) -> dict[int, str]:
        return {g: r.name for s in self.states.values() for r in s.replicas if r.phase.is_live for g in r.gpus}

    async def free_gpus(self) -> list[int]:
        return []

    async def restart_component(self, component_name: str, rolling: bool = True) -> bool:
        return bool(self._outside())

    async def get_component_logs(self, component_name: str, lines: int = 100) -> list[LogLine]:
        return list(self._outside())

    def follow_component_logs(self, component_name: str) -> AsyncIterator[LogLine]:
        return self._outside()  # type: ignore[no-any-return]
