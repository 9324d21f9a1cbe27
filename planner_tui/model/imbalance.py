"""How unevenly a component's replicas are loaded: the mean the planner acts on, with the max and the spread.

Round-robin routing can fill one decode replica's KV cache while the others idle: the mean per
worker (upstream's decision input) then hides a replica at 100%. :func:`replica_spread` gives the
mean, the largest value (and which replica has it) and the spread (largest minus smallest) of one
signal over a component's replicas, for the dashboard's component panel and ``planner-tui status``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from planner_tui.model.components import ComponentState
from planner_tui.model.signals import Signal, SignalValue
from planner_tui.model.snapshot import Snapshot

#: the signal whose imbalance matters for each role (sub-component type first): a decode or
#: aggregated worker's KV usage, a prefill worker's queue
LOAD_SIGNAL = {"decode": Signal.KV_USAGE, "worker": Signal.KV_USAGE, "prefill": Signal.QUEUE_DEPTH}
#: short names in ``kv 0.77 (max 1.00 on decode-1, spread 0.46)``
SHORT_NAME = {Signal.KV_USAGE: "kv", Signal.QUEUE_DEPTH: "queue"}


@dataclass(frozen=True, slots=True)
class Spread:
    """One signal over a component's replicas: mean, max (and its replica), min, how many replicas."""

    signal: Signal
    mean: float
    max: float
    max_replica: str
    min: float
    count: int

    @property
    def spread(self) -> float:
        """Largest minus smallest value."""
        return self.max - self.min

    def describe(self) -> str:
        """``kv 0.77 (max 1.00 on decode-1, spread 0.46)``; with one replica just ``kv 0.77``."""
        name = SHORT_NAME.get(self.signal, self.signal.value)
        text = f"{name} {self.mean:.2f}"
        if self.count > 1:
            text += f" (max {self.max:.2f} on {self.max_replica}, spread {self.spread:.2f})"
        return text


def spread_of(values: Iterable[SignalValue]) -> Spread | None:
    """The spread of ``values`` (one signal's per-replica values); stale, unknown and invalid ones
    are left out. None when none is left."""
    usable = [v for v in values if v.value is not None and not v.stale and v.invalid is None]
    if not usable:
        return None
    numbers = [v.value for v in usable if v.value is not None]
    top = max(usable, key=lambda v: v.value if v.value is not None else 0.0)
    assert top.value is not None
    return Spread(
        signal=usable[0].signal,
        mean=sum(numbers) / len(numbers),
        max=top.value,
        max_replica=top.replica or top.component,
        min=min(numbers),
        count=len(numbers),
    )


def load_signal(state: ComponentState) -> Signal | None:
    """The signal whose imbalance is shown for ``state``'s component (KV usage for decode), else None."""
    kind = state.spec.sub_component_type or str(state.spec.role)
    return LOAD_SIGNAL.get(kind)


def replica_spread(snapshot: Snapshot, component: str, signal: Signal | None = None) -> Spread | None:
    """The spread of ``signal`` (default: the component's load signal) over ``component``'s replicas
    in ``snapshot`` (its ``replica_signals``); None without per-replica values."""
    if signal is None:
        state = snapshot.components.get(component)
        signal = load_signal(state) if state is not None else None
        if signal is None:
            return None
    return spread_of(v for v in snapshot.replica_signals if v.component == component and v.signal is signal)
