"""Reading the signals a policy needs out of a Snapshot, with cold-start and staleness rules.

A Snapshot is indexed once per tick (so 256 components cost O(signals), not O(components x signals)).
Per-replica values count only from READY replicas: a replica still starting reports cold-start
samples (empty caches, queues that have not drained yet) that would make the planner over-scale.
Replicas that are starting count as capacity coming instead (see :attr:`Reading.per_live`).

Component-level (aggregate) values are read as totals for the extensive signals (queue depth,
in-flight, waiting, request rate) and as means for the others (KV usage, latencies, ISL/OSL).

Values outside their signal's domain (:attr:`SignalValue.invalid`: +Inf, NaN, a negative queue, KV
usage above 1) are never used: they are collected in :attr:`ComponentSignals.invalid_inputs` and the
engine holds a component whose policy met one.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner_tui.model.components import ComponentState
from planner_tui.model.replicas import Phase
from planner_tui.model.signals import EXTENSIVE, Signal, SignalValue
from planner_tui.model.snapshot import Snapshot


@dataclass(slots=True)
class SnapshotIndex:
    """Signal values of one Snapshot by (component, signal), built once per tick."""

    aggregate: dict[tuple[str, Signal], SignalValue]
    per_replica: dict[tuple[str, Signal], list[SignalValue]]

    @classmethod
    def build(cls, snapshot: Snapshot) -> SnapshotIndex:
        """Index ``snapshot``'s component-level and per-replica signal values."""
        aggregate = {(v.component, v.signal): v for v in snapshot.signals}
        per_replica: dict[tuple[str, Signal], list[SignalValue]] = {}
        get = per_replica.get
        for value in snapshot.replica_signals:  # thousands per tick: one lookup per value
            key = (value.component, value.signal)
            values = get(key)
            if values is None:
                per_replica[key] = [value]
            else:
                values.append(value)
        return cls(aggregate, per_replica)


@dataclass(slots=True)
class Reading:
    """One signal of one component at this tick.

    ``total`` sums the ready replicas (or is the aggregate's total), ``ready`` and ``live`` are the
    replica counts it is divided by: ``per_ready`` is what a naive planner uses, ``per_live`` counts
    starting replicas as capacity coming. ``inputs`` are the SignalValues used (for the record).
    (Not frozen: thousands are made per tick and frozen dataclasses are slower to build.)
    """

    signal: Signal
    total: float
    mean: float
    ready: int
    live: int
    inputs: tuple[SignalValue, ...]

    @property
    def per_ready(self) -> float:
        """The total divided by the ready replicas (cold-start naive)."""
        return self.total / max(self.ready, 1)

    @property
    def per_live(self) -> float:
        """The total divided by the live replicas (starting ones count as capacity coming)."""
        return self.total / max(self.live, 1)


def is_fresh(value: SignalValue, now: float, max_age_s: float) -> bool:
    """True when ``value`` is known, not marked stale and not older than ``max_age_s`` (valid or not)."""
    return value.value is not None and not value.stale and now - value.timestamp <= max_age_s


class ComponentSignals:
    """The signals of one component at one tick, read through the cold-start and staleness rules."""

    __slots__ = (
        "_index",
        "_ready_names",
        "invalid_inputs",
        "live",
        "max_age_s",
        "name",
        "now",
        "ready",
        "stale_inputs",
        "stopping",
    )

    def __init__(
        self, name: str, state: ComponentState | None, index: SnapshotIndex, now: float, max_age_s: float
    ) -> None:
        self.name = name
        self._index = index
        self.now = now
        self.max_age_s = max_age_s
        replicas = state.replicas if state is not None else ()
        ready_names = set()
        live = stopping = 0
        for r in replicas:  # one pass: this runs for every component at every tick
            phase = r.phase
            if phase is Phase.READY:
                ready_names.add(r.pod_name or f"{r.component}-{r.index}")
                live += 1
            elif phase is Phase.STARTING or phase is Phase.RUNNING:
                live += 1
            elif phase is Phase.STOPPING:
                stopping += 1
        self._ready_names: frozenset[str] | set[str] | None = ready_names
        self.ready = len(ready_names)
        self.live = live
        #: replicas being stopped (the count is still moving)
        self.stopping = stopping
        if state is not None and not replicas:
            # A connector that reports counts but no replica list: take every replica's values as ready.
            self._ready_names = None
            self.ready = self.live = state.desired_replicas
        #: values that were present but stale (recorded so a decision shows why it had no data)
        self.stale_inputs: list[SignalValue] = []
        #: values read but outside their signal's domain (never used; the engine holds the component)
        self.invalid_inputs: list[SignalValue] = []

    def read(self, signal: Signal) -> Reading | None:
        """The signal summed over ready replicas, else the component aggregate; None without fresh data.

        Invalid values are left out and recorded in :attr:`invalid_inputs`. A ready replica whose
        value is stale or unknown makes it None (the others are not the whole component).
        """
        per_replica = self._index.per_replica.get((self.name, signal))
        if per_replica:
            used = []
            total = 0.0
            missing = False  # a ready replica whose value is stale or unknown
            ready, oldest = self._ready_names, self.now - self.max_age_s
            for value in per_replica:  # inlined: this is the planner's innermost loop
                if ready is not None and value.replica not in ready:
                    continue  # cold-start samples of replicas that are not ready yet
                number = value.value
                if number is not None and not value.stale and value.timestamp >= oldest:
                    if value.invalid is not None:
                        self.invalid_inputs.append(value)
                        continue
                    used.append(value)
                    total += number
                else:
                    self.stale_inputs.append(value)
                    missing = True
            if missing:
                return None  # the replicas that answered are not the whole component: no fresh data
            if used:
                return Reading(signal, total, total / len(used), self.ready, self.live, tuple(used))
        aggregate = self._index.aggregate.get((self.name, signal))
        if aggregate is None or aggregate.value is None:
            return None
        if not is_fresh(aggregate, self.now, self.max_age_s):
            self.stale_inputs.append(aggregate)
            return None
        if aggregate.invalid is not None:
            self.invalid_inputs.append(aggregate)
            return None
        number = aggregate.value
        if signal in EXTENSIVE:
            total, mean = number, number / max(self.ready, 1)
        else:
            total, mean = number * max(self.ready, 1), number
        return Reading(signal, total, mean, self.ready, self.live, (aggregate,))

    def first(self, *signals: Signal) -> Reading | None:
        """The first of ``signals`` that has fresh data."""
        for signal in signals:
            reading = self.read(signal)
            if reading is not None:
                return reading
        return None
