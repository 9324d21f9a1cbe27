"""Domain records are immutable and compute what the dashboard and planner read from them."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from planner_tui.model import (
    ComponentSpec,
    ComponentState,
    Phase,
    ReplicaState,
    ScaleRequest,
    ScaleResponse,
    Signal,
    SignalValue,
    Snapshot,
    TargetReplica,
)


def replica(index: int, phase: Phase) -> ReplicaState:
    return ReplicaState(component="decode", index=index, phase=phase, pid=1000 + index, gpus=(index,))


def test_component_state_counts_by_phase() -> None:
    spec = ComponentSpec(name="decode", role="decode", sub_component_type="decode", min_replicas=1, max_replicas=4)
    state = ComponentState(
        spec=spec,
        desired_replicas=4,
        replicas=(
            replica(0, Phase.READY),
            replica(1, Phase.STARTING),
            replica(2, Phase.RUNNING),
            replica(3, Phase.STOPPING),
            replica(4, Phase.FAILED),
        ),
    )
    assert (state.current_replicas, state.ready_replicas, state.starting_replicas) == (3, 1, 2)
    assert not state.is_stable


def test_records_are_immutable() -> None:
    r = replica(0, Phase.READY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.phase = Phase.FAILED  # type: ignore[misc]
    snap = Snapshot(
        timestamp=1.0,
        namespace="ns",
        components={"decode": ComponentState(spec=ComponentSpec("decode", "decode"), desired_replicas=1)},
    )
    with pytest.raises(TypeError):
        snap.components["other"] = snap.components["decode"]  # type: ignore[index]


def test_snapshot_finds_signals() -> None:
    kv = SignalValue(component="decode", signal=Signal.KV_USAGE, value=0.7, timestamp=5.0)
    snap = Snapshot(timestamp=6.0, namespace="ns", signals=(kv,))
    assert snap.signal("decode", Signal.KV_USAGE) == kv
    assert snap.signal("decode", Signal.QUEUE_DEPTH) is None
    assert kv.age(6.5) == 1.5


def test_scale_request_contract() -> None:
    req = ScaleRequest.model_validate(
        {
            "caller_namespace": "app-ns-1",
            "graph_deployment_name": "llm",
            "k8s_namespace": "default",
            "target_replicas": [{"sub_component_type": "decode", "desired_replicas": 3}],
        }
    )
    assert req.blocking is False
    assert req.target_replicas[0] == TargetReplica(sub_component_type="decode", desired_replicas=3)
    with pytest.raises(ValidationError):
        TargetReplica(desired_replicas=1)
    with pytest.raises(ValidationError):
        TargetReplica(component_name="decode", desired_replicas=-1)
    resp = ScaleResponse(status="success", message="ok", current_replicas={"prefill": 1, "decode": 3})
    assert ScaleResponse.model_validate_json(resp.model_dump_json()) == resp
