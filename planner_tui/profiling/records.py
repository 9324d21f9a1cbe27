"""The sweep's records: one measured point, the capacity found per length, the whole sweep, and their JSON.

Latencies are seconds and rates per second on the load driver's clock: simulated seconds for the
simulated graph (its frontend's clock, so a sped-up sim measures the same as a real-time one), real
seconds for an OpenAI-compatible frontend.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

#: the version of the raw sweep JSON written next to a profile
SWEEP_FORMAT = 1


class Phase(StrEnum):
    """What a sweep measures on a component."""

    PREFILL = "prefill"  # input length x load -> TTFT and prompt tokens/s
    DECODE = "decode"  # context length x load -> ITL and output tokens/s

    @property
    def axis(self) -> str:
        """The profile curve's x axis: ``isl`` or ``context_length``."""
        return "isl" if self is Phase.PREFILL else "context_length"

    @property
    def latency_name(self) -> str:
        """The latency held to a target: ``TTFT`` or ``ITL``."""
        return "TTFT" if self is Phase.PREFILL else "ITL"

    @property
    def tokens_name(self) -> str:
        """Which tokens the throughput counts."""
        return "prompt tokens/s" if self is Phase.PREFILL else "output tokens/s"


class LoadKind(StrEnum):
    """What a load level is."""

    CONCURRENCY = "concurrency"  # clients sending back to back (closed loop: an OpenAI-compatible frontend)
    REQUEST_RATE = "request_rate"  # requests per second (open loop: the simulated frontend generates them)

    def describe(self, level: float) -> str:
        """``8 clients`` or ``4.50 req/s``."""
        return f"{level:g} clients" if self is LoadKind.CONCURRENCY else f"{level:.2f} req/s"


@dataclass(frozen=True, slots=True)
class Latency:
    """A latency distribution over one window: quantiles and mean in seconds, and how many observations."""

    p50: float | None = None
    p95: float | None = None
    mean: float | None = None
    count: float = 0.0

    @staticmethod
    def of_values(values: list[float]) -> Latency:
        """Exact quantiles of measured values (the client's per-request latencies)."""
        if not values:
            return Latency()
        ordered = sorted(values)

        def quantile(q: float) -> float:
            rank = max(0, math.ceil(q * len(ordered)) - 1)
            return ordered[rank]

        return Latency(quantile(0.5), quantile(0.95), sum(ordered) / len(ordered), float(len(ordered)))

    def ms(self, which: str = "p95") -> str:
        """``123 ms`` (or ``-`` without a value)."""
        value = getattr(self, which)
        return "-" if value is None else f"{value * 1000:.0f} ms"


@dataclass(frozen=True, slots=True)
class CrossCheck:
    """One figure measured twice, by the load client and by a server's own metrics, and whether they agree."""

    what: str
    client: float | None
    server: float | None
    server_source: str
    agrees: bool | None  # None: one side has no value
    note: str = ""

    def describe(self) -> str:
        """``request rate: client 4.1, frontend 4.0 (agree)``."""
        verdict = {True: "agree", False: "DISAGREE", None: "not compared"}[self.agrees]

        def fmt(v: float | None) -> str:
            return "-" if v is None else f"{v:.4g}"

        extra = f"; {self.note}" if self.note else ""
        return f"{self.what}: client {fmt(self.client)}, {self.server_source} {fmt(self.server)} ({verdict}{extra})"


@dataclass(frozen=True, slots=True)
class Point:
    """One steady (or given-up-on) load level of one component, phase and length."""

    component: str
    phase: Phase
    length: float  # ISL (prefill) or context length ISL + OSL/2 (decode)
    isl: int
    osl: int
    load: float
    load_kind: LoadKind
    duration_s: float  # the measured span (after warm-up)
    steady: bool
    overloaded: bool  # requests arrive faster than they finish: the backlog grows
    arrival_rps: float
    completed_rps: float
    tokens_per_s: float  # the phase's tokens: prompt tokens (prefill), output tokens (decode)
    latency: Latency  # the phase's latency (TTFT or ITL) that is held to the target
    latency_source: str  # "client" or "frontend"
    concurrency: float  # mean requests in flight (measured)
    ttft: dict[str, Latency] = field(default_factory=dict)  # by source: client, frontend, workers
    itl: dict[str, Latency] = field(default_factory=dict)
    checks: tuple[CrossCheck, ...] = ()
    failed: int = 0
    note: str = ""

    def meets(self, target_s: float) -> bool:
        """Steady, not overloaded, and the phase's p95 latency within ``target_s``."""
        p95 = self.latency.p95
        return self.steady and not self.overloaded and p95 is not None and p95 <= target_s

    def describe(self) -> str:
        """One line: the load, the throughput and the latency."""
        state = "overloaded" if self.overloaded else ("steady" if self.steady else "not steady")
        return (
            f"{self.component} {self.phase.axis} {self.length:g} @ {self.load_kind.describe(self.load)}: "
            f"{self.tokens_per_s:.0f} {self.phase.tokens_name}, {self.phase.latency_name} p95 {self.latency.ms()} "
            f"({state})"
        )


@dataclass(frozen=True, slots=True)
class CapacityPoint:
    """The tokens/s one replica serves at the target for one length, and how it was found."""

    length: float
    tokens_per_s: float
    basis: str  # e.g. "interpolated between 8.0 and 11.0 req/s", "saturation at 12 clients"


@dataclass(frozen=True, slots=True)
class Targets:
    """The latency targets the capacity is measured at (milliseconds, like the graph file)."""

    ttft_ms: float
    itl_ms: float

    def seconds(self, phase: Phase) -> float:
        """The target of ``phase`` in seconds."""
        return (self.ttft_ms if phase is Phase.PREFILL else self.itl_ms) / 1000.0

    def describe(self, phase: Phase) -> str:
        """``TTFT 500 ms``."""
        return f"{phase.latency_name} {(self.ttft_ms if phase is Phase.PREFILL else self.itl_ms):g} ms"


@dataclass(slots=True)
class SweepResult:
    """A whole sweep: what was measured, the capacity found, and whether it was cut short."""

    namespace: str
    graph: str
    targets: Targets
    load_kind: LoadKind
    quick: bool
    started_at: float
    components: dict[str, Phase]  # measured component -> the phase measured on it
    finished_at: float | None = None
    partial: bool = False
    partial_reason: str = ""
    points: list[Point] = field(default_factory=list)
    capacity: dict[str, list[CapacityPoint]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def points_of(self, component: str, length: float | None = None) -> list[Point]:
        """The points of ``component`` (at ``length``), in the order measured."""
        return [p for p in self.points if p.component == component and (length is None or p.length == length)]

    def to_json(self) -> dict[str, Any]:
        """The raw sweep as JSON-ready data."""
        data = asdict(self)
        data["format"] = SWEEP_FORMAT
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepResult:
        """The sweep from :meth:`to_json`'s data; ValueError names what is wrong."""
        try:
            if data.get("format") != SWEEP_FORMAT:
                raise ValueError(f"unknown sweep format {data.get('format')!r}, expected {SWEEP_FORMAT}")
            points = [_point(p) for p in data["points"]]
            capacity = {name: [CapacityPoint(**c) for c in caps] for name, caps in data["capacity"].items()}
            return cls(
                namespace=str(data["namespace"]),
                graph=str(data["graph"]),
                targets=Targets(**data["targets"]),
                load_kind=LoadKind(data["load_kind"]),
                quick=bool(data["quick"]),
                started_at=float(data["started_at"]),
                components={name: Phase(phase) for name, phase in data["components"].items()},
                finished_at=data.get("finished_at"),
                partial=bool(data.get("partial", False)),
                partial_reason=str(data.get("partial_reason", "")),
                points=points,
                capacity=capacity,
                warnings=[str(w) for w in data.get("warnings", [])],
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a planner-tui sweep: {type(exc).__name__}: {exc}") from None


def _point(data: dict[str, Any]) -> Point:
    values = dict(data)
    values["phase"] = Phase(values["phase"])
    values["load_kind"] = LoadKind(values["load_kind"])
    values["latency"] = Latency(**values["latency"])
    values["ttft"] = {k: Latency(**v) for k, v in values.get("ttft", {}).items()}
    values["itl"] = {k: Latency(**v) for k, v in values.get("itl", {}).items()}
    values["checks"] = tuple(CrossCheck(**c) for c in values.get("checks", ()))
    return Point(**values)
