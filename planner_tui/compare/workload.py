"""The workload a comparison replays: a recording's, a CSV trace, or a load profile, as seeded arrivals.

Every source gives the same :class:`~planner_tui.sim.virtual.Arrivals` interface the virtual graph reads
(``next_event()``), and the same seed gives the same requests, so each candidate meets the same traffic.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from planner_tui.recording.workload import SizeHistogram, WorkloadInterval
from planner_tui.sim.profiles import (
    Arrival,
    ArrivalSchedule,
    ProfileError,
    TokenDistribution,
    Workload,
    parse_profile,
)
from planner_tui.sim.virtual import Arrivals

#: request sizes when a recorded interval has none (no request finished in it) and none was seen before
DEFAULT_ISL = TokenDistribution("normal", 512.0, 128.0, 16, 4096)
DEFAULT_OSL = TokenDistribution("normal", 128.0, 32.0, 4, 1024)


class WorkloadError(ValueError):
    """A workload that cannot be replayed; the message names the problem and the fix."""


@dataclass(frozen=True, slots=True)
class WorkloadSource:
    """How to make the arrivals of one run (called once per candidate with the same seed)."""

    description: str
    duration_s: float
    make: Workload | tuple[WorkloadInterval, ...]

    def arrivals(self, seed: int) -> Arrivals:
        """The arrivals for ``seed`` (the same seed, the same requests)."""
        if isinstance(self.make, Workload):
            return ArrivalSchedule(self.make, random.Random(seed), start=0.0)
        return RecordedArrivals(self.make, random.Random(seed))


def profile_source(workload: Workload, duration_s: float) -> WorkloadSource:
    """A load profile (the demo frontend's, or one given on the command line) for ``duration_s``."""
    if not math.isfinite(duration_s) or duration_s <= 0:
        raise WorkloadError(f"the duration must be > 0 seconds, got {duration_s!r}; pass --duration SECONDS")
    return WorkloadSource(f"profile {workload.profile.to_dict()}", duration_s, workload)


def trace_source(path: str, duration_s: float | None, workload: Workload | None = None) -> WorkloadSource:
    """A CSV trace (``timestamp,input_tokens,output_tokens``), replayed once; its span unless ``duration_s``."""
    try:
        profile = parse_profile({"kind": "replay", "path": path, "loop": False})
    except ProfileError as exc:
        raise WorkloadError(f"{exc}; a trace is a CSV of timestamp,input_tokens,output_tokens") from None
    span = profile.span_s  # type: ignore[attr-defined]
    base = workload or Workload(profile)
    return WorkloadSource(f"trace {path}", duration_s or span, Workload(profile, base.isl, base.osl))


def recording_source(intervals: Sequence[WorkloadInterval], path: str, duration_s: float | None) -> WorkloadSource:
    """A recording's workload: per interval, its arrival count and request sizes."""
    if not intervals:
        raise WorkloadError(
            f"{path} holds no workload intervals (the recorder could not read a frontend's metrics); "
            "use --trace or --profile instead, or record a graph whose frontend serves /metrics"
        )
    first = intervals[0].start
    rebased = tuple(WorkloadInterval(w.start - first, w.duration_s, w.arrivals, w.isl, w.osl) for w in intervals)
    span = rebased[-1].start + rebased[-1].duration_s
    return WorkloadSource(f"recording {path}", min(duration_s, span) if duration_s else span, rebased)


class RecordedArrivals:
    """Arrivals following recorded intervals: each interval's count, spread uniformly (seeded) over it,
    sizes drawn from its ISL/OSL histograms (the last known ones when it has none)."""

    def __init__(self, intervals: Sequence[WorkloadInterval], rng: random.Random) -> None:
        self._intervals = list(intervals)
        self._rng = rng
        self._next = 0
        self._pending: list[Arrival] = []
        self._isl: SizeHistogram | TokenDistribution = DEFAULT_ISL
        self._osl: SizeHistogram | TokenDistribution = DEFAULT_OSL

    def next_event(self) -> tuple[float, Arrival | None]:
        """The next arrival (``inf`` after the last interval)."""
        while not self._pending:
            if self._next >= len(self._intervals):
                return math.inf, None
            self._fill(self._intervals[self._next])
            self._next += 1
        arrival = self._pending.pop()
        return arrival.at, arrival

    def _fill(self, interval: WorkloadInterval) -> None:
        if interval.isl is not None and interval.isl.total > 0:
            self._isl = interval.isl
        if interval.osl is not None and interval.osl.total > 0:
            self._osl = interval.osl
        rng = self._rng
        times = sorted(interval.start + rng.random() * interval.duration_s for _ in range(interval.arrivals))
        arrivals = [Arrival(t, self._isl.sample(rng), self._osl.sample(rng)) for t in times]
        self._pending = arrivals[::-1]  # popped from the end: earliest first
