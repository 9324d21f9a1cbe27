"""The workload seen at the frontend, per interval: how many requests arrived and how large they were.

A :class:`WorkloadSampler` reads the frontend's own metrics once per interval (the same exposition the
collector scrapes) and turns two readings into a :class:`WorkloadInterval`:

- **arrivals**: the simulated frontend counts them (``planner_tui_sim_requests_in_total``); a Dynamo
  frontend counts only finished requests, so arrivals there are finished + the change in requests in
  flight (``dynamo_frontend_requests_total`` + ``dynamo_frontend_inflight_requests``: every request that
  arrived either finished or is still in flight);
- **ISL and OSL distributions**: the increase of the frontend's ``dynamo_frontend_input_sequence_tokens``
  and ``dynamo_frontend_output_sequence_tokens`` histograms over the interval (bucket counts). The frontend
  observes sizes when a request finishes, so an interval's sizes are those of the requests that finished
  in it: close to those that arrived when latencies are short against the interval.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from planner_tui.metrics.exposition import Sample
from planner_tui.metrics.rates import HistogramPoint

ARRIVALS_SIM = "planner_tui_sim_requests_in_total"
FINISHED = "dynamo_frontend_requests_total"
INFLIGHT = "dynamo_frontend_inflight_requests"
ISL_HISTOGRAM = "dynamo_frontend_input_sequence_tokens"
OSL_HISTOGRAM = "dynamo_frontend_output_sequence_tokens"
#: the sample names a workload reading needs
SAMPLE_NAMES = frozenset(
    {ARRIVALS_SIM, FINISHED, INFLIGHT}
    | {base + suffix for base in (ISL_HISTOGRAM, OSL_HISTOGRAM) for suffix in ("_bucket", "_sum", "_count")}
)


class WorkloadFormatError(ValueError):
    """A workload record that cannot be read (names the field)."""


@dataclass(frozen=True, slots=True)
class SizeHistogram:
    """Token counts as histogram buckets: ``counts[i]`` requests had at most ``bounds[i]`` tokens (and more
    than ``bounds[i-1]``); the last count, one more than the bounds, is above every bound."""

    bounds: tuple[float, ...]
    counts: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.counts) != len(self.bounds) + 1:
            raise WorkloadFormatError(
                f"a size histogram needs one count per bound plus one above them: "
                f"{len(self.bounds)} bounds, {len(self.counts)} counts"
            )
        if any(not math.isfinite(c) or c < 0 for c in self.counts):
            raise WorkloadFormatError(f"size histogram counts must be finite and >= 0, got {list(self.counts)}")

    @property
    def total(self) -> float:
        """Requests counted."""
        return sum(self.counts)

    def mean(self) -> float | None:
        """The mean size, each bucket taken at its middle (None when empty)."""
        total = self.total
        if total <= 0:
            return None
        return sum(self._middle(i) * c for i, c in enumerate(self.counts)) / total

    def _range(self, index: int) -> tuple[float, float]:
        low = self.bounds[index - 1] if index > 0 else 1.0
        high = self.bounds[index] if index < len(self.bounds) else max(low * 2.0, low + 1.0)
        return low, max(low, high)

    def _middle(self, index: int) -> float:
        low, high = self._range(index)
        return (low + high) / 2.0

    def sample(self, rng: random.Random) -> int:
        """One size: a bucket drawn by its count, then uniformly inside it."""
        pick = rng.random() * self.total
        index = len(self.counts) - 1
        for i, count in enumerate(self.counts):
            if pick < count:
                index = i
                break
            pick -= count
        low, high = self._range(index)
        return max(1, round(rng.uniform(low, high)))

    @classmethod
    def from_point(cls, point: HistogramPoint) -> SizeHistogram:
        """From a cumulative histogram increase (``+Inf`` bound included or not)."""
        bounds = [b for b in point.bounds if math.isfinite(b)]
        cumulative = [c for b, c in zip(point.bounds, point.counts, strict=True) if math.isfinite(b)]
        counts = [max(0.0, c - (cumulative[i - 1] if i else 0.0)) for i, c in enumerate(cumulative)]
        counts.append(max(0.0, point.count - (cumulative[-1] if cumulative else 0.0)))
        return cls(tuple(bounds), tuple(counts))

    def to_dict(self) -> dict[str, Any]:
        """The recorded form."""
        return {"bounds": list(self.bounds), "counts": list(self.counts)}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> SizeHistogram:
        """Read :meth:`to_dict`'s form; :class:`WorkloadFormatError` names ``where``."""
        if not isinstance(data, Mapping):
            raise WorkloadFormatError(f"{where}: expected an object with bounds and counts")
        try:
            return cls(tuple(float(b) for b in data["bounds"]), tuple(float(c) for c in data["counts"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise WorkloadFormatError(f"{where}: {exc}") from None


@dataclass(frozen=True, slots=True)
class WorkloadInterval:
    """What arrived at the frontend from ``start`` (Unix time) for ``duration_s`` seconds."""

    start: float
    duration_s: float
    arrivals: int
    isl: SizeHistogram | None = None
    osl: SizeHistogram | None = None

    @property
    def rate(self) -> float:
        """Arrivals per second."""
        return self.arrivals / self.duration_s if self.duration_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The recorded form."""
        return {
            "start": self.start,
            "duration_s": self.duration_s,
            "arrivals": self.arrivals,
            "isl": None if self.isl is None else self.isl.to_dict(),
            "osl": None if self.osl is None else self.osl.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> WorkloadInterval:
        """Read :meth:`to_dict`'s form; :class:`WorkloadFormatError` names the bad field."""
        if not isinstance(data, Mapping):
            raise WorkloadFormatError("workload: expected an object")
        try:
            start, duration, arrivals = float(data["start"]), float(data["duration_s"]), int(data["arrivals"])
        except (KeyError, TypeError, ValueError) as exc:
            raise WorkloadFormatError(
                f"workload: start, duration_s and arrivals are required numbers ({exc})"
            ) from None
        if duration <= 0 or arrivals < 0 or not math.isfinite(start):
            raise WorkloadFormatError(f"workload: need duration_s > 0 and arrivals >= 0, got {duration}, {arrivals}")
        isl = None if data.get("isl") is None else SizeHistogram.from_dict(data["isl"], "workload.isl")
        osl = None if data.get("osl") is None else SizeHistogram.from_dict(data["osl"], "workload.osl")
        return cls(start, duration, arrivals, isl, osl)


def _total(by_name: Mapping[str, Sequence[Sample]], name: str, **labels: str) -> float | None:
    samples = by_name.get(name)
    if not samples:
        return None
    return sum(s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items()))


@dataclass(frozen=True, slots=True)
class _Reading:
    at: float
    arrivals: float | None  # a running count of arrivals (exact or finished + in flight)
    isl: HistogramPoint | None
    osl: HistogramPoint | None


class WorkloadSampler:
    """Turns successive readings of the frontend's samples into :class:`WorkloadInterval` records."""

    def __init__(self) -> None:
        self._last: _Reading | None = None

    def feed(self, at: float, by_name: Mapping[str, Sequence[Sample]]) -> WorkloadInterval | None:
        """Read the frontend's samples taken at ``at``; the interval since the previous reading, if any."""
        exact = _total(by_name, ARRIVALS_SIM)
        if exact is None:
            finished, inflight = _total(by_name, FINISHED), _total(by_name, INFLIGHT)
            exact = None if finished is None and inflight is None else (finished or 0.0) + (inflight or 0.0)
        reading = _Reading(
            at,
            exact,
            HistogramPoint.from_samples(by_name, ISL_HISTOGRAM),
            HistogramPoint.from_samples(by_name, OSL_HISTOGRAM),
        )
        last, self._last = self._last, reading
        if last is None or last.arrivals is None or reading.arrivals is None or at <= last.at:
            return None
        arrivals = reading.arrivals - last.arrivals
        if arrivals < 0:  # the frontend restarted: its counters began again
            arrivals = reading.arrivals
        return WorkloadInterval(
            last.at,
            at - last.at,
            max(0, round(arrivals)),
            _increase(reading.isl, last.isl),
            _increase(reading.osl, last.osl),
        )

    def reset(self) -> None:
        """Forget the previous reading (the frontend went away)."""
        self._last = None


def _increase(now: HistogramPoint | None, before: HistogramPoint | None) -> SizeHistogram | None:
    if now is None:
        return None
    point = now if before is None or before.bounds != now.bounds or now.count < before.count else now.minus(before)
    if point.count <= 0 or not point.bounds:
        return None
    return SizeHistogram.from_point(point)
