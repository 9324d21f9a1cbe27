"""Immutable records shared by every layer: components, replicas, GPUs, signals, snapshots, decisions.

The scaling wire records (:mod:`planner_tui.model.scaling`, validated with pydantic) load on first use,
so a process that only draws records (the dashboard's first frame) does not import pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from planner_tui.model.components import ComponentSpec, ComponentState, Role
from planner_tui.model.decisions import (
    ComponentDecision,
    Decision,
    LimitApplied,
    Outcome,
    PlannerMode,
    Verdict,
)
from planner_tui.model.gpus import EccErrors, GpuOrigin, GpuProcess, GpuSample, MigDevice
from planner_tui.model.logs import LogLine
from planner_tui.model.replicas import Phase, ReplicaState, ReplicaUsage
from planner_tui.model.signals import Signal, SignalValue
from planner_tui.model.snapshot import HostSample, Snapshot

if TYPE_CHECKING:
    from planner_tui.model.scaling import PredictedLoad, ScaleRequest, ScaleResponse, TargetReplica

_SCALING = frozenset({"PredictedLoad", "ScaleRequest", "ScaleResponse", "TargetReplica"})

__all__ = [
    "ComponentDecision",
    "ComponentSpec",
    "ComponentState",
    "Decision",
    "EccErrors",
    "GpuOrigin",
    "GpuProcess",
    "GpuSample",
    "HostSample",
    "LimitApplied",
    "LogLine",
    "MigDevice",
    "Outcome",
    "Phase",
    "PlannerMode",
    "PredictedLoad",
    "ReplicaState",
    "ReplicaUsage",
    "Role",
    "ScaleRequest",
    "ScaleResponse",
    "Signal",
    "SignalValue",
    "Snapshot",
    "TargetReplica",
    "Verdict",
]


def __getattr__(name: str) -> Any:
    """Load a scaling wire record on first use (PEP 562)."""
    if name not in _SCALING:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("planner_tui.model.scaling"), name)
    globals()[name] = value
    return value
