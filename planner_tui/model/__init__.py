"""Immutable records shared by every layer: components, replicas, GPUs, signals, snapshots, decisions."""

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
from planner_tui.model.scaling import PredictedLoad, ScaleRequest, ScaleResponse, TargetReplica
from planner_tui.model.signals import Signal, SignalValue
from planner_tui.model.snapshot import HostSample, Snapshot

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
