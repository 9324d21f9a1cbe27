"""The protocol every connector (local, kubernetes, global) implements.

A connector knows how to read and change replica state and fetch logs; it knows nothing about
policies or screens. All methods are coroutines and safe to call concurrently. What only some
backends can do (this host's GPUs, process ids) is in :mod:`planner_tui.connectors.capabilities`;
:mod:`planner_tui.connectors.factory` builds the connector a graph file names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from planner_tui.model.components import ComponentState
from planner_tui.model.logs import LogLine

if TYPE_CHECKING:
    from planner_tui.model.scaling import TargetReplica


class PlannerConnector(ABC):
    """Reads and changes the replica counts of one serving graph.

    Errors: unknown components raise :class:`~planner_tui.connectors.errors.ComponentNotFound`;
    requests that cannot be satisfied raise :class:`~planner_tui.connectors.errors.ScalingRefused`;
    backend failures raise :class:`~planner_tui.connectors.errors.ConnectorError`.
    """

    #: short backend name shown in the dashboard header: "local", "kubernetes", "global"
    kind: str = "base"
    namespace: str

    @property
    def problems(self) -> list[str]:
        """Current problems with the backend (circusd died, a replica never became ready, ...), shown
        as alerts; empty by default."""
        return []

    @property
    def label(self) -> str:
        """What the dashboard header says about the backend ("local", "kubernetes dgd/ns/name",
        "delegated to http://127.0.0.1:8000"); defaults to :attr:`kind`."""
        return self.kind

    @property
    def reachable(self) -> bool:
        """False while the backend cannot be seen (API server down, service unreachable): the planner
        then holds instead of acting on a graph it cannot see. True by default."""
        return True

    # -- lifecycle -------------------------------------------------------------------------------
    @abstractmethod
    async def initialize(self) -> None:
        """Connect to (or start) the backend and adopt the graph's current state."""

    @abstractmethod
    async def shutdown(self, stop_graph: bool = True) -> None:
        """Release the backend. ``stop_graph=False`` leaves the replicas running for a later attach."""

    async def __aenter__(self) -> Self:
        await self.initialize()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.shutdown()

    # -- state -------------------------------------------------------------------------------------
    @abstractmethod
    async def get_component_states(self) -> Mapping[str, ComponentState]:
        """Every component's current state (spec, desired count, replicas with phase and pid/pod)."""

    async def refresh(self) -> None:
        """Read the backend's state again now rather than at the next look (an observer told that the
        graph just changed). Nothing to do for a connector whose view is always current (the default)."""
        return None

    @abstractmethod
    async def get_component_replicas(self, component_name: str) -> int:
        """The desired replica count of a component."""

    # -- scaling ---------------------------------------------------------------------------------
    @abstractmethod
    async def scale_component(self, component_name: str, replicas: int) -> bool:
        """Set a component's replica count. Returns True when a change was made."""

    async def add_component(self, component_name: str) -> bool:
        """Add one replica."""
        return await self.scale_component(component_name, await self.get_component_replicas(component_name) + 1)

    async def remove_component(self, component_name: str) -> bool:
        """Remove one replica (the newest)."""
        return await self.scale_component(component_name, await self.get_component_replicas(component_name) - 1)

    @abstractmethod
    async def set_component_replicas(self, targets: list[TargetReplica], blocking: bool = False) -> None:
        """Apply the planner's targets (components chosen by name or ``sub_component_type``).

        Validates every target before changing anything. With ``blocking`` waits until the new
        replicas are ready (or removed).
        """

    # -- information -----------------------------------------------------------------------------
    async def list_components(self) -> list[dict[str, Any]]:
        """Components with their status, as plain dicts (name, role, desired, current, ready, replicas)."""
        out = []
        for name, state in (await self.get_component_states()).items():
            out.append(
                {
                    "name": name,
                    "role": state.spec.role,
                    "sub_component_type": state.spec.sub_component_type,
                    "desired_replicas": state.desired_replicas,
                    "current_replicas": state.current_replicas,
                    "ready_replicas": state.ready_replicas,
                    "min_replicas": state.spec.min_replicas,
                    "max_replicas": state.spec.max_replicas,
                    "replicas": [
                        {
                            "index": r.index,
                            "phase": r.phase.value,
                            "pid": r.pid,
                            "pod": r.pod_name,
                            "gpus": list(r.gpus),
                            "port": r.port,
                            "restarts": r.restarts,
                        }
                        for r in state.replicas
                    ],
                }
            )
        return out

    # -- operations ------------------------------------------------------------------------------
    @abstractmethod
    async def restart_component(self, component_name: str, rolling: bool = True) -> bool:
        """Restart a component's replicas: one at a time waiting for readiness, or all at once."""

    @abstractmethod
    async def get_component_logs(self, component_name: str, lines: int = 100) -> list[LogLine]:
        """The last ``lines`` lines of all the component's replicas, merged by time."""

    @abstractmethod
    def follow_component_logs(self, component_name: str) -> AsyncIterator[LogLine]:
        """New log lines of the component's replicas as they are written (until cancelled)."""
