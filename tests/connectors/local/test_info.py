"""Information from a local graph: NVML GPUs, resource usage, scraped metrics, topology."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from planner_tui.connectors.errors import ScalingRefused
from planner_tui.metrics import nvml
from tests.connectors.local.conftest import eventually, make_graph, replica_args, worker
from tests.metrics.conftest import build_fake_nvml


@pytest.fixture(scope="module")
def fake_nvml_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fake_nvml(tmp_path_factory.mktemp("local-nvml"))


@pytest.fixture
def nvml_gpus(fake_nvml_library: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """NVML over the fake library (3 GPUs); the system library again afterwards."""
    monkeypatch.setenv("FAKE_NVML_GPU_COUNT", "3")
    monkeypatch.delenv("FAKE_NVML_INIT_ERROR", raising=False)
    monkeypatch.delenv("FAKE_NVML_PROCESSES", raising=False)
    nvml.use_library(fake_nvml_library)
    yield
    nvml.use_library(None)


async def test_auto_gpus_come_from_nvml_and_usage_includes_gpu_memory(
    connect,  # type: ignore[no-untyped-def]
    nvml_gpus: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn = await connect(make_graph("auto-gpus", {"decode": worker()}, gpus="auto"))
    await conn.scale_component("decode", 3)
    await conn.wait_until_stable(["decode"], 30)
    replicas = conn.component_states()["decode"].replicas
    assert sorted(g for r in replicas for g in r.gpus) == [0, 1, 2]
    with pytest.raises(ScalingRefused, match="only 0 of 3 free"):
        await conn.scale_component("decode", 4)

    first = replicas[0]
    monkeypatch.setenv("FAKE_NVML_PROCESSES", f"{first.gpus[0]}:{first.pid}:1536")
    usage = await conn.get_resource_usage("decode")
    row = usage["replicas"]["decode-0"]
    assert row["pid"] == first.pid
    assert row["rss_bytes"] > 1_000_000 and row["threads"] >= 1 and row["cpu_percent"] >= 0
    assert row["gpu_memory_mib"] == 1536
    assert usage["replicas"]["decode-1"]["gpu_memory_mib"] is None
    assert usage["total"]["gpus"] == 3


async def test_without_nvml_a_gpu_component_is_refused_with_the_fix(
    connect,  # type: ignore[no-untyped-def]
    nvml_gpus: None,
    fake_nvml_library: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_NVML_INIT_ERROR", "12")  # NVML_ERROR_LIBRARY_NOT_FOUND: no driver
    nvml.use_library(fake_nvml_library)  # initialise again, now failing
    graph = make_graph(
        "no-nvml", {"frontend": worker(role="frontend", gpus_per_replica=0), "decode": worker(min_replicas=0)}, "auto"
    )
    conn = await connect(graph)
    with pytest.raises(ScalingRefused) as refused:
        await conn.scale_component("decode", 1)
    assert "NVML" in str(refused.value) and "resources.gpus" in str(refused.value)
    assert conn.component_states()["frontend"].current_replicas == 1


async def test_metrics_prefill_queue_topology_and_listing(connect) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph(
        "info",
        {
            "frontend": worker(role="frontend", gpus_per_replica=0),
            "prefill": worker(role="prefill", args=replica_args("--waiting", "2.5"), depends_on=["frontend"]),
            "decode": worker(role="decode", depends_on=["prefill"]),
        },
    )
    conn = await connect(graph)
    await conn.scale_component("prefill", 2)
    await conn.wait_until_stable(["frontend", "prefill", "decode"], 30)

    metrics = await conn.get_component_metrics("prefill")
    assert set(metrics["replicas"]) == {"prefill-0", "prefill-1"}
    assert all(r["ok"] for r in metrics["replicas"].values())
    assert metrics["totals"]["vllm:num_requests_waiting"] == 5.0

    queue = await conn.get_prefill_queue_metrics()
    assert queue["total"] == 5.0 and queue["average"] == 2.5
    assert queue["per_worker"] == {"prefill-0": 2.5, "prefill-1": 2.5}
    assert set(queue["sources"].values()) == {"vllm:num_requests_waiting"}

    topology = await conn.get_system_topology()
    assert [n["name"] for n in topology["nodes"]] == ["frontend", "prefill", "decode"]
    assert topology["edges"] == [{"from": "frontend", "to": "prefill"}, {"from": "prefill", "to": "decode"}]

    listing = {c["name"]: c for c in await conn.list_components()}
    assert listing["prefill"]["ready_replicas"] == 2
    assert [r["phase"] for r in listing["prefill"]["replicas"]] == ["ready", "ready"]


async def test_metrics_of_a_replica_that_stopped_answering_report_the_error(connect) -> None:  # type: ignore[no-untyped-def]
    conn = await connect(make_graph("silent", {"decode": worker(args=replica_args("--ready-after", "60"))}))
    await eventually(lambda: conn.component_states()["decode"].replicas[0].pid is not None, what="process up")
    metrics = await conn.get_component_metrics("decode")
    replica = metrics["replicas"]["decode-0"]
    assert replica["ok"] is False and replica["error"]
