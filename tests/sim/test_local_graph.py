"""The sim graph under the real local connector (circusd, one watcher per replica), scaled like the planner does."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from planner_tui.config import GraphConfig, validate_graph
from planner_tui.connectors.local import LocalConnector
from planner_tui.sim import control
from tests.connectors.local.conftest import kill_leftovers, recorded_pids
from tests.sim.conftest import SPEEDUP, free_port

SIM = ["-m", "planner_tui", "sim"]


def sim_graph(
    namespace: str,
    rps: float,
    decode_max: int = 3,
    *,
    prefill: int = 1,
    decode: int = 1,
    max_crash_restarts: int = 5,
) -> GraphConfig:
    """The demo's shape (frontend -> prefill -> decode) on private ports, at SPEEDUP times real time.

    ``prefill`` and ``decode``: replicas at start; ``max_crash_restarts``: of each worker replica.
    """
    base = free_port() % 20000 + 30000
    speed = ["--speedup", str(SPEEDUP)]
    worker = {
        "command": "{python}",
        "gpus_per_replica": 1,
        "metrics_url": "http://127.0.0.1:{port}/metrics",
        "health_url": "http://127.0.0.1:{port}/health",
        "graceful_timeout_s": 10.0,
        "max_crash_restarts": max_crash_restarts,
    }
    return validate_graph(
        {
            "namespace": namespace,
            "resources": {"gpus": [0, 1, 2, 3, 4, 5], "simulated_gpus": True, "port_range": [base, base + 39]},
            "components": {
                "frontend": {
                    "role": "frontend",
                    "command": "{python}",
                    "args": [*SIM, "frontend", "--port", "{port}", "--rps", str(rps), "--isl", "256", "--seed", "3",
                             "--lease", "3", *speed],
                    "port": free_port(),
                    "metrics_url": "http://127.0.0.1:{port}/metrics",
                    "health_url": "http://127.0.0.1:{port}/health",
                },
                "prefill": {
                    **worker,
                    "role": "prefill",
                    "args": [*SIM, "worker", "--role", "prefill", "--port", "{port}", "--frontend",
                             "http://127.0.0.1:{ports.frontend}", "--cold-start", "1", "--seed", "{replica}", *speed],
                    "max_replicas": max(2, prefill),
                    "initial_replicas": prefill,
                    "depends_on": ["frontend"],
                },
                "decode": {
                    **worker,
                    "role": "decode",
                    "args": [*SIM, "worker", "--role", "decode", "--port", "{port}", "--frontend",
                             "http://127.0.0.1:{ports.frontend}", "--cold-start", "1", "--kv-blocks", "512",
                             "--seed", "{replica}", *speed],
                    "max_replicas": max(decode_max, decode),
                    "initial_replicas": decode,
                    "depends_on": ["prefill"],
                },
            },
        }
    )  # fmt: skip


@pytest.fixture
async def start(isolated_dirs: Path) -> AsyncIterator[Callable[[GraphConfig], Awaitable[LocalConnector]]]:
    made: list[LocalConnector] = []
    root = isolated_dirs / "state"

    async def factory(graph: GraphConfig) -> LocalConnector:
        connector = await LocalConnector.create(graph.namespace, graph=graph)
        made.append(connector)
        await connector.wait_until_stable(list(graph.components), timeout=60)
        return connector

    yield factory
    pids = recorded_pids(root)
    for connector in made:
        try:
            await asyncio.wait_for(connector.shutdown(stop_graph=True), 40)
        except Exception as exc:  # report, then make sure nothing is left running
            print(f"shutdown failed: {exc!r}", file=sys.stderr)
    kill_leftovers(pids + recorded_pids(root))


async def replica_metrics(connector: LocalConnector, component: str) -> list[dict[str, list[Any]]]:
    """Each ready replica's samples by name, parsed with prometheus_client's parser."""
    states = await connector.get_component_states()
    out = []
    async with httpx.AsyncClient(timeout=5) as client:
        for replica in states[component].replicas:
            if replica.metrics_url and replica.phase.value == "ready":
                text = (await client.get(replica.metrics_url)).text
                samples: dict[str, list[Any]] = {}
                for family in text_string_to_metric_families(text):
                    for sample in family.samples:
                        samples.setdefault(sample.name, []).append(sample)
                out.append(samples)
    return out


def value(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    return sum(s.value for s in samples[name] if all(s.labels.get(k) == v for k, v in labels.items()))


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)


async def test_sim_graph_scales_under_load_without_losing_a_request(
    start: Callable[[GraphConfig], Awaitable[LocalConnector]],
) -> None:
    graph = sim_graph("simscale", rps=6)
    connector = await start(graph)
    url = f"http://127.0.0.1:{graph.components['frontend'].port}"

    # Metrics of every replica parse, with real names and simulated GPUs matching the connector's allocation.
    await until(lambda: _completed(url, 10), 40, "ten completed requests")
    (front,) = await replica_metrics(connector, "frontend")
    assert value(front, "dynamo_frontend_requests_total", status="success") >= 10
    states = await connector.get_component_states()
    for component in ("prefill", "decode"):
        (samples,) = await replica_metrics(connector, component)
        assert "vllm:kv_cache_usage_perc" in samples and "dynamo_component_inflight_requests" in samples
        gpus = {str(g) for g in states[component].replicas[0].gpus}
        assert {s.labels["gpu"] for s in samples["DCGM_FI_DEV_GPU_UTIL"]} == gpus
        assert all(s.labels["simulated"] == "true" for s in samples["DCGM_FI_DEV_FB_USED"])

    # Conservation while decode goes 1 -> 3 -> 1 under load.
    violations: list[dict[str, Any]] = []
    samples_seen = 0
    stop = asyncio.Event()

    async def watch() -> None:
        nonlocal samples_seen
        while not stop.is_set():
            stats = await control.get_stats(url)
            samples_seen += 1
            if not stats["conserved"] or stats["requests_in"] != stats["completed"] + stats["in_flight"]:
                violations.append(stats)
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        assert await connector.scale_component("decode", 3)
        await connector.wait_until_stable(["decode"], timeout=60)
        await until(lambda: _decode_workers_busy(url, 3), 30, "three decode workers holding requests")
        assert await connector.scale_component("decode", 1)  # two replicas get SIGTERM while busy
        await connector.wait_until_stable(["decode"], timeout=60)
        await control.set_profile(url, {"kind": "constant", "rps": 0})
        await until(lambda: _drained(url), 90, "every request to complete")
    finally:
        stop.set()
        await watcher
    final = await control.get_stats(url)
    assert samples_seen >= 10 and violations == []
    assert final["requests_in"] == final["completed"] > 30 and final["failed"] == 0
    assert [r["role"] for r in final["workers"].values()].count("decode") == 1


async def test_live_load_change_and_a_second_decode_replica_relieving_the_first(
    start: Callable[[GraphConfig], Awaitable[LocalConnector]],
) -> None:
    graph = sim_graph("simsat", rps=1, decode_max=2)
    connector = await start(graph)
    url = f"http://127.0.0.1:{graph.components['frontend'].port}"

    low = await _rate(url, 15)
    await control.set_profile(url, {"kind": "constant", "rps": 9})  # one decode replica saturates near 7
    high = await _rate(url, 15)
    assert low < 3 and 6 < high < 12, (low, high)

    async def saturated() -> bool:
        (decode,) = await replica_metrics(connector, "decode")
        return value(decode, "vllm:kv_cache_usage_perc") > 0.85

    await until(saturated, 40, "one decode replica to saturate")
    backlog_one, kv_one = await _window(connector, url, 4)
    assert await connector.scale_component("decode", 2)
    await connector.wait_until_stable(["decode"], timeout=60)

    async def drained_queue() -> bool:
        return (await control.get_stats(url))["queued"]["decode"] < 3

    await until(drained_queue, 60, "the decode backlog to drain with two replicas")
    await asyncio.sleep(10 / SPEEDUP)
    backlog_two, kv_two = await _window(connector, url, 6)
    assert kv_one > 0.85
    assert backlog_two < backlog_one / 2, (backlog_one, backlog_two)
    assert kv_two < kv_one - 0.1, (kv_one, kv_two)


async def _completed(url: str, n: int) -> bool:
    return int((await control.get_stats(url))["completed"]) >= n


async def _decode_workers_busy(url: str, n: int) -> bool:
    workers = (await control.get_stats(url))["workers"].values()
    return sum(1 for w in workers if w["role"] == "decode" and w["held"] > 0) >= n


async def _drained(url: str) -> bool:
    stats = await control.get_stats(url)
    return stats["in_flight"] == 0 and stats["requests_in"] > 0


async def _rate(url: str, window_sim_s: float) -> float:
    first = await control.get_stats(url)
    await asyncio.sleep(window_sim_s / SPEEDUP)
    last = await control.get_stats(url)
    return (last["requests_in"] - first["requests_in"]) / (last["sim_time_s"] - first["sim_time_s"])


async def _window(connector: LocalConnector, url: str, seconds: float) -> tuple[float, float]:
    """Mean decode backlog (frontend queue + waiting in replicas) and mean KV usage per decode replica."""
    backlog: list[float] = []
    kv: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        queued = (await control.get_stats(url))["queued"]["decode"]
        decode = await replica_metrics(connector, "decode")
        backlog.append(queued + sum(value(d, "vllm:num_requests_waiting") for d in decode))
        kv.append(statistics.mean(value(d, "vllm:kv_cache_usage_perc") for d in decode))
        await asyncio.sleep(0.2)
    return statistics.mean(backlog), statistics.mean(kv)
