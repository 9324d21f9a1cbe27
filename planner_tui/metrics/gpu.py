"""The local GPU source: NVML read in a worker thread, one batch per tick, mapped to replicas.

Without a driver or library the source reports no GPUs and a ``gpu_status`` of
``"no NVIDIA GPU: <reason>"``; it is not an error. Each GPU carries the replicas the connector
assigned it to (``holders``) and its processes are named after the replica they belong to: the
replica's own process or one of its descendants (an engine's worker processes), found through the
processes' parents with psutil; any other process is nobody's (``replica`` None, shown as "other").
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Mapping

import psutil

from planner_tui.metrics import nvml
from planner_tui.metrics.sources import Source, SourceReport, TickContext
from planner_tui.model.gpus import GpuSample


def no_gpu_status(reason: str) -> str:
    """The Snapshot's ``gpu_status`` when NVML cannot be used."""
    return f"no NVIDIA GPU: {reason}"


#: how many parents up a GPU process is traced towards a replica's process
MAX_ANCESTRY = 32


class ProcessOwners:
    """Which replica a GPU process belongs to: the replica's process itself or one of its descendants.

    A pid's answer is remembered while the pid stays on a GPU and the replicas' pids stay the same, so
    a steady graph costs no /proc reads per tick; only a new GPU process is traced (a few parents up).
    """

    def __init__(self) -> None:
        self._known: dict[int, str | None] = {}
        self._replicas: Mapping[int, str] = {}

    def owners(self, pids: Iterable[int], replica_of_pid: Mapping[int, str]) -> dict[int, str | None]:
        """pid -> replica name (None: not a replica's process nor a descendant of one)."""
        if replica_of_pid != self._replicas:
            self._known.clear()
            self._replicas = dict(replica_of_pid)
        found: dict[int, str | None] = {}
        for pid in pids:
            owner = replica_of_pid.get(pid)
            if owner is None:
                if pid not in self._known:
                    self._known[pid] = self._trace(pid, replica_of_pid)
                owner = self._known[pid]
            found[pid] = owner
        for gone in [pid for pid in self._known if pid not in found]:
            del self._known[gone]  # a pid no longer on a GPU may be reused by anyone
        return found

    @staticmethod
    def _trace(pid: int, replica_of_pid: Mapping[int, str]) -> str | None:
        try:
            current = pid
            for _ in range(MAX_ANCESTRY):
                current = psutil.Process(current).ppid()
                if current in replica_of_pid:
                    return replica_of_pid[current]
                if current <= 1:
                    return None
        except (psutil.Error, ValueError):  # gone, or not ours to read: nobody's
            return None
        return None


class NvmlGpuSource(Source):
    """GPU figures of this host through NVML (real bindings; the library may be absent)."""

    name = "nvml"

    def __init__(self, timeout_s: float | None = None) -> None:
        self.timeout_s = timeout_s
        self._owners = ProcessOwners()

    async def collect(self, context: TickContext) -> SourceReport:
        """Read every GPU off the event loop and attach holders and replica names."""
        try:
            samples = await asyncio.to_thread(nvml.read_gpus, context.now)
        except nvml.NvmlUnavailable as exc:
            return SourceReport(gpus=(), gpu_status=no_gpu_status(exc.reason))
        return self.attribute(samples, context)

    def attribute(self, samples: list[GpuSample], context: TickContext) -> SourceReport:
        """Name each GPU's holders and processes after the graph's replicas; sum GPU memory per replica."""
        holders = context.gpu_holders()
        replica_of_pid = {pid: name for name, pid in context.replica_pids().items()}
        owners = self._owners.owners({p.pid for gpu in samples for p in gpu.processes}, replica_of_pid)
        memory: dict[str, float] = {}
        named: list[GpuSample] = []
        for gpu in samples:
            processes = []
            for process in gpu.processes:
                replica = owners.get(process.pid)
                if replica is not None and process.used_memory_mib is not None:
                    memory[replica] = memory.get(replica, 0.0) + process.used_memory_mib
                processes.append(dataclasses.replace(process, replica=replica))
            named.append(dataclasses.replace(gpu, processes=tuple(processes), holders=holders.get(gpu.index, ())))
        return SourceReport(gpus=tuple(named), gpu_memory=memory)

    async def close(self) -> None:
        """Release NVML."""
        await asyncio.to_thread(nvml.shutdown)
