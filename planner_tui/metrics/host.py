"""Host and per-replica process figures of the real pids: psutil, and /proc/PID/stat on Linux.

CPU percentages need two readings: the first call for a pid (or the host) gives None, later calls
the use since the previous one (100% = one core busy). A pid whose start time changed is a new
process (pid reuse) and starts over.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Mapping

import psutil

from planner_tui.metrics.sources import Source, SourceReport, TickContext
from planner_tui.model.replicas import ReplicaUsage
from planner_tui.model.snapshot import HostSample


class HostReader:
    """Reads host-wide CPU, memory and load, and the CPU/RSS/threads of given pids."""

    def __init__(self) -> None:
        self._previous: dict[int, tuple[float, float, float]] = {}  # pid -> (CPU s, monotonic, start)
        self._host_primed = False
        self._stat_files: dict[int, int] = {}  # pid -> open /proc/PID/stat (re-read in place each tick)
        self._lock = threading.Lock()  # usage() runs in a worker thread, close() on the event loop

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

    def usage(self, pids: Mapping[str, int]) -> dict[str, ReplicaUsage]:
        """Each replica's process use (``{replica name: pid}``); gone or unreadable pids are left out."""
        with self._lock:
            return self._usage(pids)

    def _usage(self, pids: Mapping[str, int]) -> dict[str, ReplicaUsage]:
        out: dict[str, ReplicaUsage] = {}
        now = time.monotonic()
        for replica, pid in pids.items():
            reading = self._read(pid)
            if reading is None:
                self._previous.pop(pid, None)
                continue
            cpu_s, rss, threads, started = reading
            previous = self._previous.get(pid)
            cpu_percent = None
            if previous is not None and previous[2] == started and now > previous[1]:
                cpu_percent = max(0.0, (cpu_s - previous[0]) / (now - previous[1]) * 100.0)
            self._previous[pid] = (cpu_s, now, started)
            out[replica] = ReplicaUsage(cpu_percent=cpu_percent, rss_bytes=rss, threads=threads)
        alive = set(pids.values())
        for pid in [p for p in self._previous if p not in alive]:
            del self._previous[pid]
        for pid in [p for p in self._stat_files if p not in alive]:
            self._forget_stat_file(pid)
        return out

    def close(self) -> None:
        """Close the files kept open."""
        with self._lock:
            for pid in list(self._stat_files):
                self._forget_stat_file(pid)

    def _forget_stat_file(self, pid: int) -> None:
        fd = self._stat_files.pop(pid, None)
        if fd is not None:
            os.close(fd)

    def _proc_stat(self, pid: int) -> tuple[float, int, int, float]:
        """``/proc/PID/stat`` read through a descriptor kept open (a read instead of open, read, close).

        The descriptor belongs to the process it was opened for: once that one is gone, reading it
        fails (even if the pid was reused), and the file is opened again for whoever has the pid now.
        """
        fd = self._stat_files.get(pid)
        if fd is not None:
            try:
                return _parse_proc_stat(pid, os.pread(fd, 4096, 0))
            except (OSError, ValueError, IndexError):
                self._forget_stat_file(pid)
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
        try:
            reading = _parse_proc_stat(pid, os.pread(fd, 4096, 0))
        except BaseException:
            os.close(fd)
            raise
        self._stat_files[pid] = fd
        return reading

    def _read(self, pid: int) -> tuple[float, int, int, float] | None:
        """(CPU seconds, RSS bytes, threads, start time) of ``pid``, None when it is gone or unreadable."""
        if _PROC_STAT:
            try:
                return self._proc_stat(pid)
            except (OSError, ValueError, IndexError):
                pass  # gone, or an unexpected layout: ask psutil, which knows every platform
        try:
            process = psutil.Process(pid)
            with process.oneshot():
                times = process.cpu_times()
                return (
                    times.user + times.system,
                    int(process.memory_info().rss),
                    int(process.num_threads()),
                    process.create_time(),
                )
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return None


# On Linux one read of /proc/PID/stat gives what psutil gets from three files (stat, statm, status);
# kept open and re-read, a 64-replica tick costs ~0.45 ms instead of ~5 ms. Elsewhere (and if the
# layout surprises) psutil reads it.
_PROC_STAT = sys.platform.startswith("linux") and os.path.exists(f"/proc/{os.getpid()}/stat")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if _PROC_STAT else 100
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if _PROC_STAT else 4096


def _parse_proc_stat(pid: int, data: bytes) -> tuple[float, int, int, float]:
    # fields after "(comm)", which may itself hold spaces and parentheses: state is field 3
    fields = data[data.rindex(b")") + 2 :].split()
    if fields[0] == b"Z":
        raise ProcessLookupError(pid)  # a zombie uses nothing: treat as gone
    utime, stime = int(fields[11]), int(fields[12])
    threads, start_ticks, rss_pages = int(fields[17]), int(fields[19]), int(fields[21])
    return (utime + stime) / _CLOCK_TICKS, rss_pages * _PAGE_SIZE, threads, start_ticks / _CLOCK_TICKS


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

    async def close(self) -> None:
        """Close the per-process files kept open."""
        self.reader.close()
