"""The Snapshot: everything known about a graph at one instant, produced once per collector tick."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from planner_tui.model.components import ComponentState
from planner_tui.model.gpus import GpuSample
from planner_tui.model.replicas import ReplicaUsage
from planner_tui.model.signals import Signal, SignalValue


@dataclass(frozen=True, slots=True)
class HostSample:
    """Host-wide figures from psutil."""

    cpu_percent: float | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    load_average: tuple[float, float, float] | None = None


_EMPTY: Mapping[str, object] = MappingProxyType({})


def _frozen(mapping: Mapping[str, object] | None) -> Mapping[str, object]:
    return MappingProxyType(dict(mapping)) if mapping else _EMPTY


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An immutable view of the graph at ``timestamp`` (Unix time).

    ``components`` maps component name to its state; ``signals`` holds component-level (aggregate)
    signal values, ``replica_signals`` per-replica ones; ``usage`` maps replica name to its process
    use. ``gpu_status`` explains an empty ``gpus`` (e.g. ``"no NVIDIA GPU: NVML library not found"``).
    ``errors`` are problems met while collecting this snapshot (a target down, a connector error).
    """

    timestamp: float
    namespace: str
    components: Mapping[str, ComponentState] = field(default_factory=dict)
    signals: tuple[SignalValue, ...] = ()
    replica_signals: tuple[SignalValue, ...] = ()
    gpus: tuple[GpuSample, ...] = ()
    gpu_status: str | None = None
    host: HostSample = field(default_factory=HostSample)
    usage: Mapping[str, ReplicaUsage] = field(default_factory=dict)
    late_ticks: int = 0
    errors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Read-only views, so a subscriber cannot change what another one sees.
        object.__setattr__(self, "components", _frozen(self.components))
        object.__setattr__(self, "usage", _frozen(self.usage))

    def signal(self, component: str, signal: Signal) -> SignalValue | None:
        """The component-level value of ``signal`` for ``component``, if collected."""
        for value in self.signals:
            if value.component == component and value.signal is signal:
                return value
        return None

    def replica_signal(self, component: str, replica: str, signal: Signal) -> SignalValue | None:
        """The per-replica value of ``signal``, if collected."""
        for value in self.replica_signals:
            if value.component == component and value.replica == replica and value.signal is signal:
                return value
        return None
