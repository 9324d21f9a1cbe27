"""What a metrics source is: given the graph's state at one tick, report part of a Snapshot.

The collector runs every source concurrently each tick, each within its own deadline; a source that
is late keeps running in the background (never started twice) and its last report is used, marked
stale. Sources never raise for a target or device that is down: they report it in ``errors`` or
``gpu_status``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, cast

from planner_tui.metrics.history import History
from planner_tui.model.components import ComponentState
from planner_tui.model.gpus import GpuSample
from planner_tui.model.replicas import ReplicaState, ReplicaUsage
from planner_tui.model.signals import SignalValue
from planner_tui.model.snapshot import HostSample


@dataclass(frozen=True, slots=True)
class TickContext:
    """The graph at one tick, as the sources need it."""

    now: float
    namespace: str
    components: Mapping[str, ComponentState] = field(default_factory=lambda: MappingProxyType({}))

    #: what the methods below computed (several sources ask them every tick)
    _derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def replicas(self) -> list[ReplicaState]:
        """Every replica of every component."""
        return [r for state in self.components.values() for r in state.replicas]

    def replica_pids(self) -> Mapping[str, int]:
        """Live replicas with a local process: replica name -> pid (shared: do not change it)."""
        pids = self._derived.get("pids")
        if pids is None:
            pids = self._derived["pids"] = {
                r.name: r.pid for r in self.replicas() if r.pid is not None and r.phase.is_live
            }
        return cast("dict[str, int]", pids)

    def gpu_holders(self) -> Mapping[int, tuple[str, ...]]:
        """GPU index -> names of the live replicas the connector assigned it to (shared: do not change it)."""
        found = self._derived.get("holders")
        if found is None:
            holders: dict[int, list[str]] = {}
            for replica in self.replicas():
                if replica.phase.is_live:
                    for index in replica.gpus:
                        holders.setdefault(index, []).append(replica.name)
            found = self._derived["holders"] = {index: tuple(names) for index, names in holders.items()}
        return cast("dict[int, tuple[str, ...]]", found)


@dataclass(frozen=True, slots=True)
class SourceReport:
    """A source's part of a Snapshot. ``gpus`` None means "this source does not report GPUs"."""

    gpus: tuple[GpuSample, ...] | None = None
    gpu_status: str | None = None
    host: HostSample | None = None
    usage: Mapping[str, ReplicaUsage] = field(default_factory=dict)
    gpu_memory: Mapping[str, float] = field(default_factory=dict)  # replica name -> GPU MiB (NVML)
    signals: tuple[SignalValue, ...] = ()
    replica_signals: tuple[SignalValue, ...] = ()
    errors: tuple[str, ...] = ()


class Source(ABC):
    """One kind of figures (GPUs, host, serving signals), collected once per tick."""

    #: short name used in errors and in SignalValue.source
    name: str = "source"
    #: the longest a tick waits for this source (None: the collector's per-source default)
    timeout_s: float | None = None

    @abstractmethod
    async def collect(self, context: TickContext) -> SourceReport:
        """This tick's figures. Must not raise for a target that is down (report it instead)."""

    async def backfill(self, context: TickContext, history: History) -> int:
        """Fill ``history`` with what the source already knows of the past (before the first tick).

        Returns the number of points added; most sources know nothing of the past.
        """
        return 0

    async def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections and threads."""
