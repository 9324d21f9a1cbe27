"""Bounded history of every series (signals, GPU figures, host): ring buffers of constant size.

Each series keeps at most ``capacity`` points (default 15 minutes at 1 s = 900), whatever the run
length; series not updated for a whole history span are dropped (replicas that went away, pods with
new names), so memory stays bounded too. :func:`downsample` reduces a series to a chart's width.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import Literal

from planner_tui.model.signals import Signal
from planner_tui.model.snapshot import Snapshot

Point = tuple[float, float]
GPU_FIELDS = ("utilization_pct", "memory_used_mib", "temperature_c", "power_w")
HOST_FIELDS = ("cpu_percent", "memory_used_bytes")


class Ring:
    """A fixed-capacity ring of (timestamp, value) points, oldest overwritten first."""

    __slots__ = ("capacity", "size", "start", "times", "values")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"a ring needs a capacity of at least 1, got {capacity}")
        self.capacity = capacity
        self.times = array("d", bytes(8 * capacity))
        self.values = array("d", bytes(8 * capacity))
        self.start = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def append(self, timestamp: float, value: float) -> None:
        """Add a point (timestamps are expected to increase)."""
        if self.size < self.capacity:
            slot = (self.start + self.size) % self.capacity
            self.size += 1
        else:
            slot = self.start
            self.start = (self.start + 1) % self.capacity
        self.times[slot] = timestamp
        self.values[slot] = value

    def _time_at(self, logical: int) -> float:
        return self.times[(self.start + logical) % self.capacity]

    @property
    def last_time(self) -> float | None:
        """Timestamp of the newest point, None when empty."""
        return self._time_at(self.size - 1) if self.size else None

    def since(self, earliest: float) -> list[Point]:
        """Points with timestamp >= ``earliest``, oldest first."""
        low, high = 0, self.size
        while low < high:  # binary search on the logical (oldest-first) order
            middle = (low + high) // 2
            if self._time_at(middle) < earliest:
                low = middle + 1
            else:
                high = middle
        capacity, times, values, start = self.capacity, self.times, self.values, self.start
        return [(times[(start + i) % capacity], values[(start + i) % capacity]) for i in range(low, self.size)]


class History:
    """Ring buffers per series, fed one Snapshot at a time by the collector.

    Keys: ``("signal", component, signal, replica)``, ``("gpu", index, field)``, ``("host", field)``.
    """

    def __init__(self, history_s: float = 900.0, interval_s: float = 1.0) -> None:
        self.history_s = history_s
        self.capacity = max(1, math.ceil(history_s / interval_s))
        self._series: dict[Hashable, Ring] = {}
        self._latest: float | None = None
        self._appends = 0

    def __len__(self) -> int:
        """The number of series held."""
        return len(self._series)

    @property
    def latest(self) -> float | None:
        """Timestamp of the newest point recorded."""
        return self._latest

    def keys(self) -> Iterator[Hashable]:
        """Every series key."""
        return iter(list(self._series))

    def append(self, key: Hashable, timestamp: float, value: float | None) -> None:
        """Record one point of series ``key``; None (unknown) records nothing, leaving a gap."""
        self.extend(((key, timestamp, value),))

    def extend(self, points: Iterable[tuple[Hashable, float, float | None]]) -> None:
        """Record ``(key, timestamp, value)`` points as :meth:`append` does, in one pass."""
        series, capacity, latest = self._series, self.capacity, self._latest
        for key, timestamp, value in points:
            if value is None or value != value:  # unknown or NaN: a gap
                continue
            ring = series.get(key)
            if ring is None:
                ring = series[key] = Ring(capacity)
            elif ring.size and timestamp < ring.times[(ring.start + ring.size - 1) % capacity]:
                continue  # older than what the series holds: the rings stay in time order
            ring.append(timestamp, value)
            if latest is None or timestamp > latest:
                latest = timestamp
        self._latest = latest

    def record(self, snapshot: Snapshot) -> None:
        """Record a Snapshot's signal values (stale ones are gaps, not repeats), GPUs and host."""
        now = snapshot.timestamp
        self.extend(
            (("signal", value.component, value.signal, value.replica), value.timestamp, value.value)
            for value in (*snapshot.signals, *snapshot.replica_signals)
            if not value.stale
        )
        gpus = snapshot.gpus
        self.extend(
            (("gpu", gpu.index, name), gpu.timestamp, getattr(gpu, name)) for gpu in gpus for name in GPU_FIELDS
        )
        used = snapshot.host.memory_used_bytes
        self.extend(
            (
                (("host", "cpu_percent"), now, snapshot.host.cpu_percent),
                (("host", "memory_used_bytes"), now, None if used is None else float(used)),
            )
        )
        self._latest = max(self._latest or now, now)
        self._appends += 1
        if self._appends % 64 == 0:
            self.prune()

    def prune(self) -> None:
        """Drop series with no point inside the history span (e.g. replicas that went away)."""
        if self._latest is None:
            return
        cutoff = self._latest - self.history_s
        for key in [k for k, ring in self._series.items() if (ring.last_time or cutoff - 1) < cutoff]:
            del self._series[key]

    def points(self, key: Hashable, window_s: float) -> list[Point]:
        """Series ``key``'s points in the last ``window_s`` seconds (before the newest tick)."""
        ring = self._series.get(key)
        if ring is None or self._latest is None:
            return []
        return ring.since(self._latest - window_s)

    def series(self, component: str, signal: Signal | str, window_s: float, replica: str | None = None) -> list[Point]:
        """A signal's (timestamp, value) points over the last ``window_s`` seconds, oldest first.

        ``replica=None`` gives the component aggregate; a replica name its own values.
        """
        return self.points(("signal", component, Signal(signal), replica), window_s)

    def gpu_history(self, index: int, window_s: float, field: str = "utilization_pct") -> list[Point]:
        """GPU ``index``'s ``field`` (utilisation by default; memory_used_mib, temperature_c, power_w)."""
        if field not in GPU_FIELDS:
            raise ValueError(f"unknown GPU field {field!r}; known: {', '.join(GPU_FIELDS)}")
        return self.points(("gpu", index, field), window_s)

    @staticmethod
    def downsample(points: Sequence[Point], n: int, mode: Literal["mean", "max", "last"] = "mean") -> list[Point]:
        """At most ``n`` points of ``points`` (see :func:`downsample`), e.g. a chart's width."""
        return downsample(points, n, mode)

    def host_history(self, field: str, window_s: float) -> list[Point]:
        """Host ``cpu_percent`` or ``memory_used_bytes`` over the last ``window_s`` seconds."""
        if field not in HOST_FIELDS:
            raise ValueError(f"unknown host field {field!r}; known: {', '.join(HOST_FIELDS)}")
        return self.points(("host", field), window_s)


def downsample(points: Sequence[Point], n: int, mode: Literal["mean", "max", "last"] = "mean") -> list[Point]:
    """At most ``n`` points: consecutive points grouped into ``n`` buckets, one point per bucket.

    Each bucket keeps its last timestamp and the mean (default), max (peaks stay visible) or last value.
    """
    if n < 1:
        raise ValueError(f"downsample needs n >= 1, got {n}")
    if len(points) <= n:
        return list(points)
    out: list[Point] = []
    size = len(points) / n
    for bucket in range(n):
        chunk = points[int(bucket * size) : int((bucket + 1) * size)]
        if not chunk:
            continue
        values = [v for _, v in chunk]
        if mode == "max":
            value = max(values)
        elif mode == "last":
            value = values[-1]
        else:
            value = sum(values) / len(values)
        out.append((chunk[-1][0], value))
    return out
