"""Short in-memory history of the figures the dashboard charts, fed from the Snapshots it receives."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from planner_tui.model import GpuSample, Role, Signal, Snapshot
from planner_tui.runtime.source import SeriesHistory

#: the longest chart window the user can pick (15 minutes)
MAX_WINDOW_S = 900.0
#: chart windows the user cycles through, in seconds
WINDOWS_S: tuple[float, ...] = (60.0, 300.0, 900.0)

# (series key, component role to sum over, signal) charted in the queue panel
QUEUE_SERIES: tuple[tuple[str, Role, Signal], ...] = (
    ("prefill_queue", Role.PREFILL, Signal.QUEUE_DEPTH),
    ("decode_queue", Role.DECODE, Signal.WAITING),
    ("decode_kv", Role.DECODE, Signal.KV_USAGE),
    ("frontend_queued", Role.FRONTEND, Signal.QUEUE_DEPTH),
    ("frontend_inflight", Role.FRONTEND, Signal.INFLIGHT),
    ("ttft_p95", Role.FRONTEND, Signal.TTFT_P95),
    ("itl_p95", Role.FRONTEND, Signal.ITL_P95),
)


class Trends:
    """Time series keyed by name, each bounded to :data:`MAX_WINDOW_S` seconds of points."""

    def __init__(self, keep_s: float = MAX_WINDOW_S, max_points: int = 4096) -> None:
        self.keep_s = keep_s
        self.max_points = max_points
        self._series: dict[str, deque[tuple[float, float]]] = {}

    def add(self, key: str, timestamp: float, value: float | None) -> None:
        """Append one point (ignored when ``value`` is None, so gaps stay gaps)."""
        if value is None:
            return
        points = self._series.get(key)
        if points is None:
            points = self._series[key] = deque(maxlen=self.max_points)
        if points and timestamp <= points[-1][0]:
            return  # a replayed or out-of-order snapshot: keep the series monotonic
        points.append((timestamp, value))
        horizon = timestamp - self.keep_s
        while points and points[0][0] < horizon:
            points.popleft()

    def points(self, key: str) -> list[tuple[float, float]]:
        """Every point kept for ``key``, oldest first."""
        return list(self._series.get(key, ()))

    def latest(self, key: str) -> float | None:
        """The newest value of ``key``, if any."""
        points = self._series.get(key)
        return points[-1][1] if points else None

    def buckets(self, key: str, now: float, window_s: float, width: int) -> list[float | None]:
        """The last ``window_s`` seconds of ``key`` downsampled to ``width`` time buckets (max per bucket).

        Buckets without a point are None, so a chart shows missing data instead of a made-up zero.
        """
        out: list[float | None] = [None] * max(0, width)
        if width <= 0:
            return out
        start = now - window_s
        step = window_s / width
        for timestamp, value in reversed(self._series.get(key, ())):
            if timestamp < start:
                break
            slot = min(width - 1, int((timestamp - start) / step))
            current = out[slot]
            if current is None or value > current:
                out[slot] = value
        return out

    def ingest(self, snapshot: Snapshot) -> None:
        """Record the charted figures of one snapshot: queue totals, KV use, latencies and GPU use."""
        t = snapshot.timestamp
        for key, role, signal in QUEUE_SERIES:
            self.add(key, t, role_signal(snapshot, role, signal))
        for gpu in snapshot.gpus:
            self.add(gpu_trend_key(gpu), t, gpu.utilization_pct)

    def backfill(self, history: SeriesHistory, roles: Mapping[str, Role], gpu_indices: Iterable[int]) -> int:
        """Fill empty series from the source's history, so charts of a graph that was already running
        start full. ``roles`` maps component name to role. Returns the number of points added."""
        added = 0
        for key, role, signal in QUEUE_SERIES:
            if self._series.get(key):
                continue
            merged: dict[float, float] = {}
            for name, component_role in roles.items():
                if component_role != role:
                    continue
                for timestamp, value in history.series(name, signal, self.keep_s):
                    if signal in (Signal.KV_USAGE, Signal.TTFT_P95, Signal.ITL_P95):
                        merged[timestamp] = max(value, merged.get(timestamp, value))
                    else:
                        merged[timestamp] = merged.get(timestamp, 0.0) + value
            for timestamp in sorted(merged):
                self.add(key, timestamp, merged[timestamp])
                added += 1
        for index in gpu_indices:
            key = f"gpu{index}.util"
            if not self._series.get(key):
                for timestamp, value in history.gpu_history(index, self.keep_s):
                    self.add(key, timestamp, value)
                    added += 1
        return added


def gpu_trend_key(gpu: GpuSample) -> str:
    """The utilisation series of one GPU: by index on this machine, by node and index in a cluster
    (two nodes' GPU 0 are two GPUs)."""
    return f"gpu{gpu.index}.util" if not gpu.on_node else f"gpu{gpu.host}/{gpu.index}.util"


def role_signal(snapshot: Snapshot, role: Role, signal: Signal) -> float | None:
    """A signal summed (or for KV and latencies, maxed) over the components with ``role``.

    Queue depths and in-flight counts add up across components; KV usage and p95 latencies are
    fractions/percentiles, so the worst component is shown.
    """
    values = []
    for name, state in snapshot.components.items():
        if state.spec.role != role:
            continue
        value = snapshot.signal(name, signal)
        if value is not None and value.value is not None:
            values.append(value.value)
    if not values:
        return None
    if signal in (Signal.KV_USAGE, Signal.TTFT_P95, Signal.ITL_P95):
        return max(values)
    return sum(values)
