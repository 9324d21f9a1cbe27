"""The local GPU source: NVML read in a worker thread, one batch per tick, mapped to replicas.

Without a driver or library the source reports no GPUs and a ``gpu_status`` of
``"no NVIDIA GPU: <reason>"``; it is not an error. Each GPU carries the replicas the connector
assigned it to (``holders``) and its processes are named after the replica whose pid they are.
"""

from __future__ import annotations

import asyncio
import dataclasses

from planner_tui.metrics import nvml
from planner_tui.metrics.sources import Source, SourceReport, TickContext
from planner_tui.model.gpus import GpuSample


def no_gpu_status(reason: str) -> str:
    """The Snapshot's ``gpu_status`` when NVML cannot be used."""
    return f"no NVIDIA GPU: {reason}"


class NvmlGpuSource(Source):
    """GPU figures of this host through NVML (real bindings; the library may be absent)."""

    name = "nvml"

    def __init__(self, timeout_s: float | None = None) -> None:
        self.timeout_s = timeout_s

    async def collect(self, context: TickContext) -> SourceReport:
        """Read every GPU off the event loop and attach holders and replica names."""
        try:
            samples = await asyncio.to_thread(nvml.read_gpus, context.now)
        except nvml.NvmlUnavailable as exc:
            return SourceReport(gpus=(), gpu_status=no_gpu_status(exc.reason))
        return self.attribute(samples, context)

    @staticmethod
    def attribute(samples: list[GpuSample], context: TickContext) -> SourceReport:
        """Name each GPU's holders and processes after the graph's replicas; sum GPU memory per replica."""
        holders = context.gpu_holders()
        replica_of_pid = {pid: name for name, pid in context.replica_pids().items()}
        memory: dict[str, float] = {}
        named: list[GpuSample] = []
        for gpu in samples:
            processes = []
            for process in gpu.processes:
                replica = replica_of_pid.get(process.pid)
                if replica is not None and process.used_memory_mib is not None:
                    memory[replica] = memory.get(replica, 0.0) + process.used_memory_mib
                processes.append(dataclasses.replace(process, replica=replica))
            named.append(dataclasses.replace(gpu, processes=tuple(processes), holders=holders.get(gpu.index, ())))
        return SourceReport(gpus=tuple(named), gpu_memory=memory)

    async def close(self) -> None:
        """Release NVML."""
        await asyncio.to_thread(nvml.shutdown)
