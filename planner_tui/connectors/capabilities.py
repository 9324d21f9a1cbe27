"""Optional capabilities of a connector, each a small protocol the collector and dashboard ask for.

:class:`~planner_tui.connectors.base.PlannerConnector` holds what every backend must do (state,
scaling, restarts, logs, lifecycle). What only some backends can do is here; a consumer asks
``isinstance(connector, GpuInventory)`` and never compares backend names. The local connector has
all of them (its replicas are processes of this machine); a Kubernetes connector has none of them
(GPUs and usage come from the cluster's Prometheus there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from planner_tui.model.scaling import PredictedLoad, TargetReplica


@runtime_checkable
class GpuInventory(Protocol):
    """Replicas hold this machine's GPUs, named by NVML index (``ReplicaState.gpus``).

    The collector then reads this machine's GPUs through NVML and marks each with the replicas
    holding it; without this capability it asks NVML nothing.
    """

    async def gpu_holders(self) -> dict[int, str]:
        """GPU index -> the replica holding it (across every graph of this machine's state dir)."""
        ...

    async def free_gpus(self) -> list[int]:
        """This graph's GPUs that no replica holds."""
        ...


@runtime_checkable
class HostUsage(Protocol):
    """Per-replica CPU, memory and GPU use of processes on this machine."""

    async def get_resource_usage(self, component_name: str) -> dict[str, Any]:
        """Per-replica usage of a component (cpu_percent, rss, GPU memory)."""
        ...


@runtime_checkable
class ProcessIds(Protocol):
    """Replicas are processes of this machine: a pid can be traced back to its replica (GPU process
    rows, per-process usage)."""

    async def replica_pids(self, component_name: str) -> dict[str, int]:
        """Live replica name -> its process id on this machine."""
        ...


@runtime_checkable
class ServingMetrics(Protocol):
    """The connector scrapes its replicas' own endpoints (the seed's PRD API for local graphs)."""

    async def get_component_metrics(self, component_name: str) -> dict[str, Any]:
        """The component's serving metrics per replica, scraped from its endpoints."""
        ...

    async def get_prefill_queue_metrics(self) -> dict[str, Any]:
        """Prefill queue depth (total and per worker)."""
        ...


@runtime_checkable
class Topology(Protocol):
    """The graph's components as nodes and their dependencies as edges."""

    async def get_system_topology(self) -> dict[str, Any]:
        """``{"namespace", "backend", "nodes", "edges"}``."""
        ...


@runtime_checkable
class DelegatesScaling(Protocol):
    """Scaling is applied by a service the connector asks (a Global Planner): the planner's forecast
    goes with the request and the service's answer comes back for the decision log."""

    async def delegate_replicas(self, targets: list[TargetReplica], predicted_load: PredictedLoad | None) -> str:
        """Send ``targets`` (with the forecast); the service's answer as one line. Raises like
        ``set_component_replicas`` when the service refuses or cannot be reached."""
        ...


def has_local_gpus(connector: object) -> bool:
    """True when the connector's replicas hold this machine's GPUs (see :class:`GpuInventory`)."""
    return isinstance(connector, GpuInventory)
