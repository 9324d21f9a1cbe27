"""Candidate planner settings: the graph's ``[planner]`` table with some keys changed, validated as the
graph file's own table is.

A candidate is written ``NAME: key=value, key=value`` on the command line (``--candidate "eager:
decode_kv_scale_up=0.8, adjustment_interval_s=10"``) or as a ``[candidates.NAME]`` table in a TOML file.
Values are TOML values (``0.8``, ``"throughput"``, ``true``); a bare word is a string. Any key of
``[planner]`` can change: the policy, thresholds, intervals, predictor, GPU budget, stabilisation.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from planner_tui.config.graph import GraphConfig
from planner_tui.config.planner_settings import PlannerSettings

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
BASELINE = "baseline"


class CandidateError(ValueError):
    """A candidate that cannot be used; the message names the candidate, the key and the fix."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A named variant of the graph's planner settings."""

    name: str
    settings: PlannerSettings
    changes: Mapping[str, Any] = field(default_factory=dict)

    def graph(self, base: GraphConfig) -> GraphConfig:
        """``base`` with this candidate's planner settings."""
        return base.model_copy(update={"planner": self.settings})

    def describe(self) -> str:
        """``decode_kv_scale_up=0.8, adjustment_interval_s=10`` (or ``the graph's settings``)."""
        if not self.changes:
            return "the graph's settings"
        return ", ".join(f"{k}={v}" for k, v in self.changes.items())


def _value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: a string (policy = throughput)


def parse_candidate(text: str, base: PlannerSettings) -> Candidate:
    """A candidate from ``NAME: key=value, ...``; :class:`CandidateError` names what is wrong."""
    name, sep, rest = text.partition(":")
    name = name.strip()
    if not sep or not _NAME.match(name):
        raise CandidateError(
            f"bad candidate {text!r}: write NAME: key=value, ... (NAME of letters, digits, _ . -), "
            'e.g. --candidate "eager: decode_kv_scale_up=0.8, adjustment_interval_s=10"'
        )
    changes: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise CandidateError(f"candidate {name!r}: {part!r} is not key=value, e.g. decode_kv_scale_up=0.8")
        changes[key.strip()] = _value(value.strip())
    return make_candidate(name, changes, base)


def make_candidate(name: str, changes: Mapping[str, Any], base: PlannerSettings) -> Candidate:
    """``base`` with ``changes`` applied, validated like the graph file's ``[planner]`` table."""
    known = set(PlannerSettings.model_fields)
    for key in changes:
        if key not in known:
            raise CandidateError(
                f"candidate {name!r}: unknown planner setting {key!r}; known settings: {', '.join(sorted(known))}"
            )
    data = {**base.model_dump(), **changes}
    try:
        settings = PlannerSettings.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "planner"
        raise CandidateError(
            f"candidate {name!r}: {where} = {error.get('input')!r}: {error['msg']}; fix the value of {where}"
        ) from None
    return Candidate(name, settings, dict(changes))


def load_candidates(path: str | Path, base: PlannerSettings) -> list[Candidate]:
    """The ``[candidates.NAME]`` tables of a TOML file."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CandidateError(f"cannot read the candidates file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CandidateError(f"{path} is not valid TOML: {exc}") from None
    tables = data.get("candidates")
    if not isinstance(tables, dict) or not tables:
        raise CandidateError(
            f"{path} has no [candidates.NAME] tables; write e.g.\n[candidates.eager]\ndecode_kv_scale_up = 0.8"
        )
    out = []
    for name, changes in tables.items():
        if not _NAME.match(name) or not isinstance(changes, dict):
            raise CandidateError(f"{path}: [candidates.{name}] must be a table with a plain name")
        out.append(make_candidate(name, changes, base))
    return out


def with_baseline(candidates: list[Candidate], base: PlannerSettings, include: bool = True) -> list[Candidate]:
    """The graph's own settings first (as ``baseline``), then the candidates; names must be unique."""
    out = ([Candidate(BASELINE, base)] if include else []) + candidates
    seen: set[str] = set()
    for candidate in out:
        if candidate.name in seen:
            raise CandidateError(f"two candidates are named {candidate.name!r}; give each its own name")
        seen.add(candidate.name)
    if not out:
        raise CandidateError("no candidates: add --candidate NAME:key=value or leave the baseline in")
    return out
