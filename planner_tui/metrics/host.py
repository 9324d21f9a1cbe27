"""Host and per-replica process figures from psutil, read from the real pids.

CPU percentages need two readings: the first call for a pid (or the host) gives None, later calls
the use since the previous one. ``psutil.Process`` objects are cached per pid (and checked against
the process' start time, so a reused pid is not mistaken for the old process).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

import psutil

from planner_tui.metrics.sources import Source, SourceReport, TickContext
from planner_tui.model.replicas import ReplicaUsage
from planner_tui.model.snapshot import HostSample


class HostReader:
    """Reads host-wide CPU, memory and load, and the CPU/RSS/threads of given pids."""

    def __init__(self) -> None:
        self._processes: dict[int, psutil.Process] = {}
        self._host_primed = False

    def host(self) -> HostSample:
        """Host CPU % since the previous call (None on the first), memory, load average."""
        cpu = psutil.cpu_percent(interval=None)
        cpu_percent = cpu if self._host_primed else None
        self._host_primed = True
        memory = psutil.virtual_memory()
        try:
            load = os.getloadavg()
        except OSError:  # not available on this platform
            load = None
        return HostSample(
            cpu_percent=cpu_percent,
            memory_used_bytes=int(memory.total - memory.available),
            memory_total_bytes=int(memory.total),
            load_average=None if load is None else (load[0], load[1], load[2]),
        )

    def _process(self, pid: int) -> tuple[psutil.Process, bool]:
        """The cached Process for ``pid`` (and whether it is new), replacing a stale one."""
        cached = self._processes.get(pid)
        if cached is not None:
            try:
                if cached.is_running():  # compares the start time: a reused pid is a new process
                    return cached, False
            except psutil.Error:
                pass
        process = psutil.Process(pid)
        self._processes[pid] = process
        return process, True

    def usage(self, pids: Mapping[str, int]) -> dict[str, ReplicaUsage]:
        """Each replica's process use (``{replica name: pid}``); gone or unreadable pids are left out."""
        out: dict[str, ReplicaUsage] = {}
        for replica, pid in pids.items():
            try:
                process, new = self._process(pid)
                with process.oneshot():
                    cpu = process.cpu_percent(interval=None)
                    rss = process.memory_info().rss
                    threads = process.num_threads()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                self._processes.pop(pid, None)
                continue
            out[replica] = ReplicaUsage(cpu_percent=None if new else cpu, rss_bytes=int(rss), threads=int(threads))
        alive = set(pids.values())
        for pid in [p for p in self._processes if p not in alive]:
            del self._processes[pid]
        return out


class HostSource(Source):
    """Host figures and each live replica's process use (psutil, read in a worker thread)."""

    name = "host"

    def __init__(self, timeout_s: float | None = None) -> None:
        self.timeout_s = timeout_s
        self.reader = HostReader()

    def _read(self, pids: Mapping[str, int]) -> SourceReport:
        return SourceReport(host=self.reader.host(), usage=self.reader.usage(pids))

    async def collect(self, context: TickContext) -> SourceReport:
        """Host and per-replica figures for this tick."""
        return await asyncio.to_thread(self._read, context.replica_pids())
