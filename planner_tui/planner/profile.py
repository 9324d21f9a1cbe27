"""Per-replica capacity profiles for the throughput (SLA) policy, read from a small TOML or JSON file.

A profile says how many tokens per second one replica serves while meeting the latency targets
(TTFT for prefill, ITL for decode), as a function of the sequence length. One table per component,
named after the component, its ``sub_component_type`` or its role::

    # capacity.toml: measured at TTFT 500 ms (prefill) and ITL 50 ms (decode)
    [prefill]
    isl = [128, 1024, 4096]              # input sequence length, tokens (ascending)
    tokens_per_s = [9000, 12000, 8000]   # prefill tokens/s one replica sustains at the TTFT target

    [decode]
    context_length = [512, 2048, 8192]   # ISL + OSL/2, tokens (ascending)
    tokens_per_s = [2400, 1800, 900]     # output tokens/s one replica sustains at the ITL target

Between points the capacity is interpolated linearly; outside them the nearest point is used.

``planner-tui profile`` writes such a file from a measured sweep, with an optional ``[_meta]`` table
saying how it was measured (the targets, when, from which graph, whether the sweep was cut short)::

    [_meta]
    partial = false              # true: the sweep was stopped before it finished
    ttft_target_ms = 500.0
    itl_target_ms = 50.0
    measured_at = "2026-01-01T12:00:00Z"
    sweep = "capacity.sweep.json"  # the raw sweep (every point measured)

No component can be named ``_meta`` (names start with a letter).
"""

from __future__ import annotations

import itertools
import json
import tomllib
from bisect import bisect_left
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from planner_tui.config.errors import ConfigError, Problem
from planner_tui.config.loader import problems_from


class CapacityCurve(BaseModel):
    """Tokens/s one replica sustains at the SLA, by sequence length (``isl`` or ``context_length``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    isl: list[float] | None = Field(None, description="input sequence lengths (prefill), ascending")
    context_length: list[float] | None = Field(None, description="ISL + OSL/2 (decode), ascending")
    tokens_per_s: list[float] = Field(min_length=1, description="tokens/s per replica at each length")

    @model_validator(mode="after")
    def _consistent(self) -> CapacityCurve:
        lengths = self.lengths
        if lengths is None:
            raise PydanticCustomError("axis", "needs isl = [...] or context_length = [...]", {})
        if self.isl is not None and self.context_length is not None:
            raise PydanticCustomError("axis", "give isl or context_length, not both", {})
        if len(lengths) != len(self.tokens_per_s):
            raise PydanticCustomError(
                "length",
                "tokens_per_s has {n} values but the lengths have {m}; give one per length",
                {"n": len(self.tokens_per_s), "m": len(lengths)},
            )
        if any(b <= a for a, b in itertools.pairwise(lengths)):
            raise PydanticCustomError("order", "lengths must be strictly ascending, got {v}", {"v": lengths})
        if any(t <= 0 for t in self.tokens_per_s):
            raise PydanticCustomError("positive", "tokens_per_s values must be > 0", {})
        return self

    @property
    def lengths(self) -> list[float] | None:
        """The x axis: ISL or context length."""
        return self.isl if self.isl is not None else self.context_length

    @property
    def axis(self) -> str:
        """``isl`` or ``context_length``."""
        return "isl" if self.isl is not None else "context_length"

    def capacity(self, length: float) -> float:
        """Tokens/s per replica at sequence length ``length`` (linear interpolation, clamped at the ends)."""
        xs = self.lengths or []
        ys = self.tokens_per_s
        if length <= xs[0]:
            return ys[0]
        if length >= xs[-1]:
            return ys[-1]
        i = bisect_left(xs, length)
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return y0 + (y1 - y0) * (length - x0) / (x1 - x0)


#: the profile's optional table about how it was measured
META_TABLE = "_meta"


class ProfileMeta(BaseModel):
    """How a profile was measured (the ``[_meta]`` table ``planner-tui profile`` writes)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    partial: bool = Field(False, description="the sweep was stopped before it finished")
    partial_reason: str | None = None
    ttft_target_ms: float | None = Field(None, gt=0, description="TTFT target the prefill capacity is measured at")
    itl_target_ms: float | None = Field(None, gt=0, description="ITL target the decode capacity is measured at")
    measured_at: str | None = None
    namespace: str | None = None
    graph: str | None = None
    quick: bool | None = None
    sweep: str | None = Field(None, description="the raw sweep JSON")

    def target_for(self, axis: str) -> str | None:
        """``TTFT 500 ms`` for an ``isl`` curve, ``ITL 50 ms`` for a ``context_length`` one (None if unknown)."""
        value, name = (self.ttft_target_ms, "TTFT") if axis == "isl" else (self.itl_target_ms, "ITL")
        return None if value is None else f"{name} {value:g} ms"


class CapacityProfile(BaseModel):
    """A capacity file: one :class:`CapacityCurve` per component name, sub-component type or role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    curves: dict[str, CapacityCurve]
    meta: ProfileMeta | None = None

    def curve_for(self, *keys: str | None) -> CapacityCurve | None:
        """The first curve named by ``keys`` (component name, sub-component type, role)."""
        for key in keys:
            if key and key in self.curves:
                return self.curves[key]
        return None


def parse_profile(data: dict[str, Any], source: str = "<profile>") -> CapacityProfile:
    """Validate parsed profile data (``{"prefill": {...}, "decode": {...}}``)."""
    curves = {k: v for k, v in data.items() if k != META_TABLE} if isinstance(data, dict) else None
    if not curves:
        raise ConfigError(source, [Problem((), "expected at least one table, e.g. [decode] with tokens_per_s")])
    try:
        return CapacityProfile.model_validate({"curves": curves, "meta": data.get(META_TABLE)})
    except ValidationError as exc:
        problems = [
            Problem(
                p.loc[1:]
                if p.loc[:1] == ("curves",)
                else (META_TABLE, *p.loc[1:])
                if p.loc[:1] == ("meta",)
                else p.loc,
                p.message,
            )
            for p in problems_from(exc, CapacityProfile)
        ]
        raise ConfigError(source, problems) from None


def load_profile(path: str | Path) -> CapacityProfile:
    """Read a capacity profile from a ``.toml`` or ``.json`` file; :class:`ConfigError` names every problem."""
    source = str(path)
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [Problem((), f"cannot read the capacity profile: {exc.strerror or exc}")]) from None
    try:
        data = json.loads(text) if source.endswith(".json") else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if source.endswith(".json") else "TOML"
        raise ConfigError(source, [Problem((), f"invalid {kind}: {exc}")]) from None
    return parse_profile(data, source)
