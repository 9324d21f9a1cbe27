"""A Snapshot as JSON: every field, enums as values, derived figures, no NaN."""

from __future__ import annotations

import json
import math

import pytest

from planner_tui.metrics.snapshot_json import (
    SnapshotFormatError,
    snapshot_from_dict,
    snapshot_to_dict,
    snapshot_to_json,
)
from planner_tui.model import (
    ComponentSpec,
    ComponentState,
    EccErrors,
    GpuOrigin,
    GpuProcess,
    GpuSample,
    HostSample,
    MigDevice,
    Phase,
    ReplicaState,
    ReplicaUsage,
    Role,
    Signal,
    SignalValue,
    Snapshot,
)


def test_snapshot_round_trips_through_json() -> None:
    replica = ReplicaState("decode", 1, Phase.READY, pid=42, gpus=(3,), port=21001)
    snapshot = Snapshot(
        timestamp=123.5,
        namespace="demo",
        components={"decode": ComponentState(ComponentSpec("decode", Role.DECODE, "decode", 1, 4, 1), 1, (replica,))},
        signals=(SignalValue("decode", Signal.KV_USAGE, 0.5, 123.0, stale=True, source="scrape"),),
        gpus=(
            GpuSample(
                3,
                GpuOrigin.SIMULATED,
                123.5,
                utilization_pct=math.nan,
                memory_used_mib=10,
                memory_total_mib=40,
                processes=(GpuProcess(42, 10.0, "decode-1"),),
                holders=("decode-1",),
            ),
        ),
        gpu_status=None,
        host=HostSample(cpu_percent=3.0, load_average=(0.1, 0.2, 0.3)),
        usage={"decode-1": ReplicaUsage(cpu_percent=1.5, rss_bytes=1024, threads=3, gpu_memory_mib=10.0)},
        late_ticks=2,
        errors=("frontend-0: metrics http://127.0.0.1:1/metrics: cannot connect",),
    )
    data = json.loads(snapshot_to_json(snapshot))
    assert data == snapshot_to_dict(snapshot)
    assert data["schema_version"] == 1 and data["namespace"] == "demo" and data["late_ticks"] == 2
    decode = data["components"]["decode"]
    assert decode["ready_replicas"] == 1 and decode["spec"]["max_replicas"] == 4
    assert (
        decode["replicas"][0] | {"name": "decode-1", "phase": "ready", "pid": 42, "gpus": [3]} == decode["replicas"][0]
    )
    assert data["signals"][0] == {
        "component": "decode",
        "signal": "kv_usage",
        "value": 0.5,
        "timestamp": 123.0,
        "stale": True,
        "replica": None,
        "source": "scrape",
        "invalid": None,
    }
    gpu = data["gpus"][0]
    assert gpu["origin"] == "simulated" and gpu["simulated"] is True and gpu["memory_fraction"] == 0.25
    assert gpu["utilization_pct"] is None  # NaN is not JSON
    assert gpu["processes"] == [
        {"pid": 42, "used_memory_mib": 10.0, "replica": "decode-1", "sm_util_pct": None, "gpu_instance": None}
    ]
    assert data["host"]["load_average"] == [0.1, 0.2, 0.3]
    assert data["usage"]["decode-1"]["threads"] == 3
    assert data["errors"][0].startswith("frontend-0")


def test_snapshot_from_dict_gives_back_the_snapshot() -> None:
    replica = ReplicaState("decode", 1, Phase.READY, pid=42, gpus=(3,), port=21001, reason="ok")
    snapshot = Snapshot(
        timestamp=123.5,
        namespace="demo",
        components={"decode": ComponentState(ComponentSpec("decode", Role.DECODE, "decode", 1, 4, 1), 1, (replica,))},
        signals=(SignalValue("decode", Signal.KV_USAGE, 0.5, 123.0, stale=True, source="scrape"),),
        gpus=(
            GpuSample(
                3,
                GpuOrigin.NVML,
                123.5,
                name="NVIDIA H100",
                utilization_pct=7.0,
                holders=("decode-1",),
                processes=(GpuProcess(42, 10.0, "decode-1", sm_util_pct=35.0, gpu_instance=1),),
                throttle_reasons=("sw power cap",),
                ecc=EccErrors(1, 0, 5, 0),
                mig_mode=True,
                mig_devices=(MigDevice(0, "MIG 1g.10gb", "MIG-1", 1, 100.0, 10240.0),),
            ),
        ),
        host=HostSample(cpu_percent=3.0, load_average=(0.1, 0.2, 0.3)),
        usage={"decode-1": ReplicaUsage(cpu_percent=1.5, rss_bytes=1024)},
        late_ticks=2,
        errors=("a problem",),
    )
    back = snapshot_from_dict(json.loads(snapshot_to_json(snapshot)))
    assert back == snapshot
    assert back.components["decode"].ready_replicas == 1


def test_snapshot_from_dict_names_the_field_that_is_wrong() -> None:
    data = snapshot_to_dict(Snapshot(timestamp=1.0, namespace="demo"))
    data["late_ticks"] = "many"
    with pytest.raises(SnapshotFormatError, match=r"snapshot\.late_ticks: expected int"):
        snapshot_from_dict(data)
    with pytest.raises(SnapshotFormatError, match="schema_version"):
        snapshot_from_dict({**data, "schema_version": 99})
