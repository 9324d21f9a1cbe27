"""What the planner remembers between ticks, as explicit immutable values.

The engine is a pure function of (snapshot, state, config, now); everything a rule needs from earlier
ticks lives here: the last observed replica count and when it last went up (grace period, "no change
while moving"), recent recommendations (stabilisation windows), each policy's own memory (recent
per-worker loads for trends and "for N intervals" reasons, predictor state, online capacity
estimates), and pins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, NamedTuple

Series = tuple[tuple[float, float], ...]  # (timestamp, value), oldest first

_EMPTY_SERIES: Mapping[str, Series] = MappingProxyType({})
_EMPTY_FLOATS: Mapping[str, float] = MappingProxyType({})
_EMPTY_KALMAN: Mapping[str, tuple[float, float]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Pin:
    """A manual hold: keep ``component`` at ``replicas`` until ``until`` (Unix time; None = until unpinned)."""

    component: str
    replicas: int
    until: float | None = None
    reason: str = "pinned"

    def active(self, now: float) -> bool:
        """True while the pin holds (no expiry, or expiry still ahead)."""
        return self.until is None or now < self.until

    def describe(self) -> str:
        """``pinned at 3 (manual scale)``, with the expiry when there is one."""
        import datetime as _dt

        text = f"pinned at {self.replicas} ({self.reason})"
        if self.until is not None:
            text += " until " + _dt.datetime.fromtimestamp(self.until).strftime("%H:%M:%S")
        return text


class PolicyMemory(NamedTuple):
    """What a policy remembers about one component between ticks; the engine carries it whole.

    ``loads`` holds recent series keyed by name (``load`` is the policy's per-worker figure; the
    throughput policy keeps ``request_rate``/``isl``/``osl``). ``above``/``below`` count consecutive
    intervals the load was over the scale-up / under the scale-down threshold. ``kalman`` is the
    predictors' state and ``capacity`` the online capacity estimates.

    A policy returns its memory in :attr:`Recommendation.memory`, changed with :meth:`evolve`; a new
    field added here is kept from tick to tick with no change to the engine. (A NamedTuple rather
    than a frozen dataclass: one is made per component per tick, and tuples are the cheapest
    immutable values Python builds.)
    """

    loads: Mapping[str, Series] = _EMPTY_SERIES
    above: int = 0
    below: int = 0
    kalman: Mapping[str, tuple[float, float]] = _EMPTY_KALMAN
    capacity: Mapping[str, float] = _EMPTY_FLOATS

    def evolve(self, **changes: Any) -> PolicyMemory:
        """A copy with ``changes`` (field names; an unknown name is a ValueError)."""
        return self._replace(**changes)

    def series(self, name: str) -> Series:
        """The remembered series ``name`` (empty when never recorded)."""
        return self.loads.get(name, ())

    def with_point(self, name: str, timestamp: float, value: float, keep: int) -> PolicyMemory:
        """A copy with ``(timestamp, value)`` appended to series ``name``, keeping the last ``keep`` points."""
        points = (*self.loads.get(name, ()), (timestamp, value))[-keep:]
        loads = dict(self.loads)
        loads[name] = points
        return self.evolve(loads=MappingProxyType(loads))


_EMPTY_POLICY_MEMORY = PolicyMemory()


class ComponentMemory(NamedTuple):
    """What the planner remembers about one component: the engine's observations and the policy's memory.

    The engine writes every field but ``policy`` afresh each tick: the last observed replica count
    (``last_count``, at ``last_observed_at``), when it last changed and last went up (grace period,
    "no change while moving"), and ``recommendations``, recent (time, replicas) recommendations after
    min/max, for the stabilisation windows. ``policy`` is what the component's policy returned.
    """

    last_count: int | None = None
    last_observed_at: float | None = None
    last_change_at: float | None = None
    last_scale_up_at: float | None = None
    recommendations: tuple[tuple[float, int], ...] = ()
    policy: PolicyMemory = _EMPTY_POLICY_MEMORY


_EMPTY_MEMORY: Mapping[str, ComponentMemory] = MappingProxyType({})
_EMPTY_PINS: Mapping[str, Pin] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PlannerState:
    """Everything carried from one tick to the next: per-component memory and the active pins."""

    components: Mapping[str, ComponentMemory] = field(default_factory=lambda: _EMPTY_MEMORY)
    pins: Mapping[str, Pin] = field(default_factory=lambda: _EMPTY_PINS)
    ticks: int = 0
    last_tick_at: float | None = None

    def memory(self, component: str) -> ComponentMemory:
        """The memory of ``component`` (empty for one not seen yet)."""
        return self.components.get(component) or ComponentMemory()

    def pin(self, component: str, now: float) -> Pin | None:
        """The active pin on ``component`` at ``now``, if any."""
        pin = self.pins.get(component)
        return pin if pin is not None and pin.active(now) else None

    def with_pin(self, pin: Pin) -> PlannerState:
        """A copy with ``pin`` set (replacing any pin on the same component)."""
        pins = dict(self.pins)
        pins[pin.component] = pin
        return replace(self, pins=MappingProxyType(pins))

    def without_pin(self, component: str) -> PlannerState:
        """A copy with the pin on ``component`` removed (control returns to the planner)."""
        if component not in self.pins:
            return self
        pins = {k: v for k, v in self.pins.items() if k != component}
        return replace(self, pins=MappingProxyType(pins))

    def expire_pins(self, now: float) -> PlannerState:
        """A copy without the pins whose time has passed."""
        if all(p.active(now) for p in self.pins.values()):
            return self
        return replace(self, pins=MappingProxyType({k: v for k, v in self.pins.items() if v.active(now)}))
