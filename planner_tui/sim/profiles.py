"""Load profiles (request rate over time), request-size distributions and the arrivals they generate.

A :class:`Workload` is a profile plus the input (ISL) and output (OSL) token distributions. Its JSON
form is what the frontend's control endpoint serves and accepts, e.g.
``{"kind": "sine", "min_rps": 2, "max_rps": 18, "period_s": 180, "isl": {"dist": "normal", "mean": 512}}``.
All times are simulated seconds. Randomness comes from a caller-seeded :class:`random.Random`.
"""

from __future__ import annotations

import bisect
import csv
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Protocol

RECHECK_S = 1.0  # with no arrival within this long, the rate is looked at again


class ProfileError(ValueError):
    """A load profile or distribution that cannot be used; the message names the key and the fix."""


def _number(data: Mapping[str, Any], key: str, default: float | None = None, *, minimum: float = 0.0) -> float:
    value = data.get(key, default)
    if value is None:
        raise ProfileError(f"missing {key!r}: the {data.get('kind', '?')!r} profile needs it")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(f"{key!r} must be a number, got {value!r}")
    if value < minimum:
        raise ProfileError(f"{key!r} must be >= {minimum:g}, got {value!r}")
    return float(value)


def _positive(data: Mapping[str, Any], key: str, default: float | None = None) -> float:
    value = _number(data, key, default)
    if value <= 0:
        raise ProfileError(f"{key!r} must be > 0, got {value:g}")
    return value


def _only_keys(data: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ProfileError(f"unknown key {unknown[0]!r} for {what}; known keys: {', '.join(sorted(allowed))}")


# --- request sizes ----------------------------------------------------------------------------------

DISTRIBUTIONS = ("constant", "normal", "lognormal", "uniform")


@dataclass(frozen=True, slots=True)
class TokenDistribution:
    """A distribution of token counts, clamped to ``[low, high]``.

    ``constant`` always gives ``mean``; ``normal`` and ``lognormal`` have the given mean and std;
    ``uniform`` draws between ``low`` and ``high``.
    """

    dist: str = "constant"
    mean: float = 512.0
    std: float = 0.0
    low: int = 1
    high: int = 8192

    def sample(self, rng: random.Random) -> int:
        """One token count."""
        if self.dist == "constant" or (self.std <= 0 and self.dist != "uniform"):
            value = self.mean
        elif self.dist == "normal":
            value = rng.gauss(self.mean, self.std)
        elif self.dist == "lognormal":
            sigma2 = math.log(1.0 + (self.std / self.mean) ** 2)
            value = rng.lognormvariate(math.log(self.mean) - sigma2 / 2.0, math.sqrt(sigma2))
        else:
            value = rng.uniform(self.low, self.high)
        return int(min(self.high, max(self.low, round(value))))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"dist": self.dist, "mean": self.mean, "std": self.std, "min": self.low, "max": self.high}

    @classmethod
    def from_dict(cls, data: Any, what: str, current: TokenDistribution | None = None) -> TokenDistribution:
        """Parse ``{"dist": ..., "mean": ..., "std": ..., "min": ..., "max": ...}``; a bare number is constant."""
        base = current or cls()
        if isinstance(data, int | float) and not isinstance(data, bool):
            data = {"dist": "constant", "mean": data}
        if not isinstance(data, Mapping):
            raise ProfileError(f"{what} must be an object like {{'dist': 'normal', 'mean': 512, 'std': 128}}")
        _only_keys(data, {"dist", "mean", "std", "min", "max"}, what)
        dist = data.get("dist", base.dist)
        if dist not in DISTRIBUTIONS:
            raise ProfileError(f"{what}.dist must be one of {', '.join(DISTRIBUTIONS)}, got {dist!r}")
        try:
            mean = _positive(data, "mean", base.mean)
            std = _number(data, "std", base.std if "mean" not in data else 0.0)
            low = int(_positive(data, "min", base.low))
            high = int(_positive(data, "max", base.high))
        except ProfileError as exc:
            raise ProfileError(f"{what}: {exc}") from None
        if low > high:
            raise ProfileError(f"{what}: 'min' ({low}) must be <= 'max' ({high})")
        return cls(dist=str(dist), mean=mean, std=std, low=low, high=high)


# --- load profiles ----------------------------------------------------------------------------------


class LoadProfile(Protocol):
    """A request rate over simulated time ``t`` (seconds since the profile was set)."""

    kind: ClassVar[str]

    def rate(self, t: float) -> float:
        """Expected requests per second at ``t``."""
        ...

    def scaled(self, factor: float) -> LoadProfile:
        """The same shape with every rate multiplied by ``factor``."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (includes ``kind``)."""
        ...


@dataclass(frozen=True, slots=True)
class ConstantProfile:
    """A fixed rate."""

    kind: ClassVar[str] = "constant"
    rps: float

    def rate(self, t: float) -> float:
        """Always ``rps``."""
        return self.rps

    def scaled(self, factor: float) -> ConstantProfile:
        """``rps * factor``."""
        return ConstantProfile(self.rps * factor)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"kind": self.kind, "rps": self.rps}


@dataclass(frozen=True, slots=True)
class SineProfile:
    """A rate that starts at ``min_rps``, peaks at ``max_rps`` after half a period and comes back."""

    kind: ClassVar[str] = "sine"
    min_rps: float
    max_rps: float
    period_s: float

    def rate(self, t: float) -> float:
        """``min + (max - min) * (1 - cos(2 pi t / period)) / 2``."""
        phase = (1.0 - math.cos(2.0 * math.pi * t / self.period_s)) / 2.0
        return self.min_rps + (self.max_rps - self.min_rps) * phase

    def scaled(self, factor: float) -> SineProfile:
        """Both bounds times ``factor``."""
        return replace(self, min_rps=self.min_rps * factor, max_rps=self.max_rps * factor)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"kind": self.kind, "min_rps": self.min_rps, "max_rps": self.max_rps, "period_s": self.period_s}


@dataclass(frozen=True, slots=True)
class StepProfile:
    """A piecewise-constant rate: ``steps`` are ``(at_s, rps)`` pairs; repeats every ``period_s`` if set."""

    kind: ClassVar[str] = "step"
    steps: tuple[tuple[float, float], ...]
    period_s: float | None = None

    def rate(self, t: float) -> float:
        """The rps of the last step that started at or before ``t`` (0 before the first)."""
        if self.period_s:
            t = t % self.period_s
        current = 0.0
        for at_s, rps in self.steps:
            if at_s > t:
                break
            current = rps
        return current

    def scaled(self, factor: float) -> StepProfile:
        """Every step's rps times ``factor``."""
        return replace(self, steps=tuple((at, rps * factor) for at, rps in self.steps))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"kind": self.kind, "steps": [list(s) for s in self.steps], "period_s": self.period_s}


@dataclass(frozen=True, slots=True)
class BurstProfile:
    """``base_rps``, with ``burst_rps`` for the last ``duration_s`` of every ``every_s`` seconds."""

    kind: ClassVar[str] = "burst"
    base_rps: float
    burst_rps: float
    every_s: float
    duration_s: float

    def rate(self, t: float) -> float:
        """The burst rate inside a burst window, else the base rate."""
        return self.burst_rps if t % self.every_s >= self.every_s - self.duration_s else self.base_rps

    def scaled(self, factor: float) -> BurstProfile:
        """Both rates times ``factor``."""
        return replace(self, base_rps=self.base_rps * factor, burst_rps=self.burst_rps * factor)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "kind": self.kind,
            "base_rps": self.base_rps,
            "burst_rps": self.burst_rps,
            "every_s": self.every_s,
            "duration_s": self.duration_s,
        }


@dataclass(frozen=True, slots=True)
class TraceRow:
    """One request of a trace: when it arrives (seconds) and its token counts."""

    timestamp: float
    input_tokens: int
    output_tokens: int


def load_trace(path: str | Path) -> tuple[TraceRow, ...]:
    """Read a CSV trace ``timestamp,input_tokens,output_tokens`` (a header line is allowed).

    Timestamps are seconds, in any origin (they are made relative to the first); rows are sorted.
    """
    rows: list[TraceRow] = []
    try:
        with open(path, newline="") as handle:
            for number, record in enumerate(csv.reader(handle), start=1):
                if not record or record[0].strip().startswith("#"):
                    continue
                if number == 1 and not _is_number(record[0]):
                    continue  # header
                if len(record) < 3:
                    raise ProfileError(
                        f"{path} line {number}: expected timestamp,input_tokens,output_tokens, got {record!r}"
                    )
                try:
                    row = TraceRow(float(record[0]), int(float(record[1])), int(float(record[2])))
                except ValueError:
                    raise ProfileError(f"{path} line {number}: not numbers: {record!r}") from None
                if row.input_tokens < 1 or row.output_tokens < 1 or not math.isfinite(row.timestamp):
                    raise ProfileError(f"{path} line {number}: token counts must be >= 1, got {record!r}")
                rows.append(row)
    except OSError as exc:
        raise ProfileError(f"cannot read trace {path}: {exc.strerror or exc}") from None
    if not rows:
        raise ProfileError(f"trace {path} has no requests; expected lines of timestamp,input_tokens,output_tokens")
    rows.sort(key=lambda r: r.timestamp)
    first = rows[0].timestamp
    return tuple(replace(r, timestamp=r.timestamp - first) for r in rows)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class ReplayProfile:
    """Requests at the trace's timestamps with the trace's sizes; ``rate_scale`` > 1 replays faster."""

    kind: ClassVar[str] = "replay"
    path: str
    rows: tuple[TraceRow, ...] = field(repr=False, compare=False)
    rate_scale: float = 1.0
    loop: bool = True

    @property
    def span_s(self) -> float:
        """Length of one pass through the trace in trace seconds (one mean gap after the last request)."""
        last = self.rows[-1].timestamp
        return last + (last / (len(self.rows) - 1) if len(self.rows) > 1 and last > 0 else 1.0)

    def rate(self, t: float) -> float:
        """The trace's mean rate over a 10 s window around ``t``."""
        lo, hi = (t - 5.0) * self.rate_scale, (t + 5.0) * self.rate_scale
        stamps = [r.timestamp for r in self.rows]
        passes = range(math.floor(lo / self.span_s), math.floor(hi / self.span_s) + 1) if self.loop else (0,)
        count = 0
        for k in passes:
            offset = k * self.span_s
            count += bisect.bisect_left(stamps, hi - offset) - bisect.bisect_left(stamps, lo - offset)
        return count / 10.0

    def scaled(self, factor: float) -> ReplayProfile:
        """Replays ``factor`` times faster."""
        return replace(self, rate_scale=self.rate_scale * factor)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"kind": self.kind, "path": self.path, "rate_scale": self.rate_scale, "loop": self.loop}


PROFILE_KEYS: dict[str, set[str]] = {
    "constant": {"rps"},
    "sine": {"min_rps", "max_rps", "period_s"},
    "step": {"steps", "period_s"},
    "burst": {"base_rps", "burst_rps", "every_s", "duration_s"},
    "replay": {"path", "rate_scale", "loop"},
}


def parse_profile(data: Mapping[str, Any]) -> LoadProfile:
    """A profile from its JSON form; :class:`ProfileError` names the bad key and what is expected."""
    kind = data.get("kind")
    if kind not in PROFILE_KEYS:
        raise ProfileError(f"'kind' must be one of {', '.join(PROFILE_KEYS)}, got {kind!r}")
    _only_keys(data, PROFILE_KEYS[kind] | {"kind", "isl", "osl"}, f"a {kind!r} profile")
    if kind == "constant":
        return ConstantProfile(_number(data, "rps"))
    if kind == "sine":
        low, high = _number(data, "min_rps"), _number(data, "max_rps")
        if high < low:
            raise ProfileError(f"'max_rps' ({high:g}) must be >= 'min_rps' ({low:g})")
        return SineProfile(low, high, _positive(data, "period_s"))
    if kind == "step":
        return _parse_steps(data)
    if kind == "burst":
        every, duration = _positive(data, "every_s"), _positive(data, "duration_s")
        if duration > every:
            raise ProfileError(f"'duration_s' ({duration:g}) must be <= 'every_s' ({every:g})")
        return BurstProfile(_number(data, "base_rps"), _number(data, "burst_rps"), every, duration)
    path = data.get("path")
    if not isinstance(path, str) or not path:
        raise ProfileError("the 'replay' profile needs 'path': a CSV file of timestamp,input_tokens,output_tokens")
    loop = data.get("loop", True)
    if not isinstance(loop, bool):
        raise ProfileError(f"'loop' must be true or false, got {loop!r}")
    return ReplayProfile(path, load_trace(path), _positive(data, "rate_scale", 1.0), loop)


def _parse_steps(data: Mapping[str, Any]) -> StepProfile:
    raw = data.get("steps")
    example = "e.g. [[0, 2], [60, 12], [120, 2]]"
    if not isinstance(raw, list | tuple) or not raw:
        raise ProfileError(f"the 'step' profile needs 'steps': a list of [at_s, rps] pairs, {example}")
    steps: list[tuple[float, float]] = []
    for item in raw:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise ProfileError(f"each step must be [at_s, rps], got {item!r}; {example}")
        steps.append((_number({"at_s": item[0]}, "at_s"), _number({"rps": item[1]}, "rps")))
    if [s[0] for s in steps] != sorted(s[0] for s in steps):
        raise ProfileError(f"steps must be in increasing at_s order, got {[s[0] for s in steps]}")
    period = data.get("period_s")
    return StepProfile(tuple(steps), None if period is None else _positive(data, "period_s"))


def parse_steps_text(text: str) -> list[list[float]]:
    """``"0:2,60:12"`` -> ``[[0, 2], [60, 12]]`` (the CLI's form of a step schedule)."""
    steps: list[list[float]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        at_s, sep, rps = part.partition(":")
        try:
            if not sep:
                raise ValueError
            steps.append([float(at_s), float(rps)])
        except ValueError:
            raise ProfileError(
                f"bad step {part!r}: write steps as AT_S:RPS separated by commas, e.g. 0:2,60:12"
            ) from None
    return steps


@dataclass(frozen=True, slots=True)
class Workload:
    """What the frontend generates: a load profile and the ISL/OSL distributions."""

    profile: LoadProfile
    isl: TokenDistribution = TokenDistribution("normal", 512.0, 128.0, 16, 4096)
    osl: TokenDistribution = TokenDistribution("normal", 128.0, 32.0, 4, 1024)

    def to_dict(self) -> dict[str, Any]:
        """The control endpoint's JSON form: the profile's keys plus ``isl`` and ``osl``."""
        return {**self.profile.to_dict(), "isl": self.isl.to_dict(), "osl": self.osl.to_dict()}

    def scaled(self, factor: float) -> Workload:
        """The same workload with the request rate multiplied by ``factor``."""
        if not math.isfinite(factor) or factor < 0:
            raise ProfileError(f"the scale factor must be a number >= 0, got {factor!r}")
        return replace(self, profile=self.profile.scaled(factor))


def parse_workload(data: Any, current: Workload | None = None) -> Workload:
    """A workload from the control endpoint's JSON; ``isl``/``osl`` default to ``current``'s."""
    if not isinstance(data, Mapping):
        raise ProfileError('the profile must be a JSON object, e.g. {"kind": "constant", "rps": 12}')
    base = current or Workload(ConstantProfile(0.0))
    profile = parse_profile(data)
    isl = TokenDistribution.from_dict(data["isl"], "isl", base.isl) if "isl" in data else base.isl
    osl = TokenDistribution.from_dict(data["osl"], "osl", base.osl) if "osl" in data else base.osl
    return Workload(profile, isl, osl)


# --- arrivals ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arrival:
    """A request to generate at simulated time ``at``."""

    at: float
    input_tokens: int
    output_tokens: int


class ArrivalSchedule:
    """The arrivals of a workload from simulated time ``start`` on.

    Rate profiles give a Poisson process whose rate is read again at each arrival (and at least every
    :data:`RECHECK_S`), which is exact for piecewise-constant rates. Replay gives the trace's requests.
    ``origin`` is the time the profile's ``t = 0`` refers to (kept when only the rate is scaled).
    """

    def __init__(self, workload: Workload, rng: random.Random, *, start: float, origin: float | None = None) -> None:
        self.workload = workload
        self.origin = start if origin is None else origin
        self._rng = rng
        self._t = start
        self._replay_index = 0
        self._replay_base = 0.0
        profile = workload.profile
        if isinstance(profile, ReplayProfile):
            # Skip the trace rows that fall before `start` (the schedule resumes mid-trace when rescaled).
            elapsed = (start - self.origin) * profile.rate_scale
            if profile.loop:
                passes = math.floor(elapsed / profile.span_s)
                self._replay_base = passes * profile.span_s
                elapsed -= self._replay_base
            while self._replay_index < len(profile.rows) and profile.rows[self._replay_index].timestamp < elapsed:
                self._replay_index += 1

    def next_event(self) -> tuple[float, Arrival | None]:
        """The next point in time and the arrival there, or None when it is only a time to look again."""
        profile = self.workload.profile
        if isinstance(profile, ReplayProfile):
            return self._next_replay(profile)
        rate = profile.rate(self._t - self.origin)
        gap = self._rng.expovariate(rate) if rate > 0 else math.inf
        if gap > RECHECK_S:
            self._t += RECHECK_S
            return self._t, None
        self._t += gap
        w = self.workload
        return self._t, Arrival(self._t, w.isl.sample(self._rng), w.osl.sample(self._rng))

    def _next_replay(self, profile: ReplayProfile) -> tuple[float, Arrival | None]:
        if self._replay_index >= len(profile.rows):
            if not profile.loop:
                return math.inf, None
            self._replay_index = 0
            self._replay_base += profile.span_s
        row = profile.rows[self._replay_index]
        self._replay_index += 1
        at = self.origin + (self._replay_base + row.timestamp) / profile.rate_scale
        self._t = max(self._t, at)
        return at, Arrival(at, row.input_tokens, row.output_tokens)
