"""GPU and port allocation rules (pure: no processes)."""

from __future__ import annotations

import pytest

from planner_tui.connectors.errors import ScalingRefused
from planner_tui.connectors.local.allocator import Holdings, allocate
from tests.connectors.local.conftest import make_graph, worker


def test_whole_gpus_per_replica_from_the_free_ones() -> None:
    graph = make_graph("alloc", {"decode": worker(gpus_per_replica=2)}, gpus=[0, 1, 2, 3, 4])
    held = Holdings(gpus={1: "other_decode_0"})
    result = allocate(graph, "decode", 2, held, [0, 1, 2, 3, 4], port_free=lambda port: True)
    assert [a.gpus for a in result] == [(0, 2), (3, 4)]
    first = graph.resources.port_range[0]
    assert [a.port for a in result] == [first, first + 1]


def test_refusal_says_what_is_short_and_who_holds_what() -> None:
    graph = make_graph("alloc", {"decode": worker()}, gpus=[0, 1])
    held = Holdings(gpus={0: "alloc_decode_0", 1: "demo_prefill_0"})
    with pytest.raises(ScalingRefused) as refused:
        allocate(graph, "decode", 1, held, [0, 1], port_free=lambda port: True)
    assert str(refused.value) == (
        "cannot add 1 replica to 'decode': needs 1 GPU (1 per replica), only 0 of 2 free "
        "(GPU 0: alloc_decode_0, GPU 1: demo_prefill_0); scale another component down or declare more GPUs "
        "in resources.gpus"
    )


def test_no_gpu_inventory_explains_why() -> None:
    graph = make_graph("alloc", {"decode": worker()}, gpus="auto")
    with pytest.raises(ScalingRefused, match="NVML library not found"):
        allocate(graph, "decode", 1, Holdings(), [], "NVML library not found", port_free=lambda port: True)


def test_ports_skip_held_and_busy_ones_and_refuse_when_the_range_is_used_up() -> None:
    graph = make_graph("alloc", {"decode": worker(gpus_per_replica=0)})
    first, last = graph.resources.port_range
    held = Holdings(ports={first: "x_decode_0"})
    busy = {first + 1}
    result = allocate(graph, "decode", 2, held, [], port_free=lambda port: port not in busy)
    assert [a.port for a in result] == [first + 2, first + 3]
    with pytest.raises(ScalingRefused, match="widen the port range"):
        allocate(graph, "decode", last - first + 1, held, [], port_free=lambda port: True)


def test_fixed_port_is_used_and_refused_when_someone_holds_it() -> None:
    graph = make_graph("alloc", {"frontend": worker(role="frontend", gpus_per_replica=0, max_replicas=1, port=24999)})
    assert allocate(graph, "frontend", 1, Holdings(), [], port_free=lambda port: True)[0].port == 24999
    with pytest.raises(ScalingRefused, match="in use by another program"):
        allocate(graph, "frontend", 1, Holdings(), [], port_free=lambda port: False)
    with pytest.raises(ScalingRefused, match="held by other_frontend_0"):
        allocate(graph, "frontend", 1, Holdings(ports={24999: "other_frontend_0"}), [], port_free=lambda p: True)
