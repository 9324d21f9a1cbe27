"""The connector seam: the factory builds the backend a graph file names; the local backend's optional
capabilities are protocols the collector and dashboard ask for (issue 14, "a seam that fits more than one
backend")."""

from __future__ import annotations

import asyncio
import contextlib

import psutil
import pytest

from planner_tui.connectors.capabilities import (
    GpuInventory,
    HostUsage,
    ProcessIds,
    ServingMetrics,
    Topology,
    has_local_gpus,
)
from planner_tui.connectors.errors import ConnectorError
from planner_tui.connectors.factory import BACKENDS, observe_graph, open_connector
from planner_tui.connectors.local import LocalConnector
from tests.connectors.local.conftest import make_graph, worker
from tests.metrics.connector_double import StaticConnector


async def test_the_factory_starts_a_local_graph_and_observers_attach_read_only(state_root) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph("seam", {"decode": worker(min_replicas=2)})
    assert graph.connector.kind == "local" and graph.runs_local_processes  # no [connector] table: local
    connector = await open_connector(graph)
    observer = None
    try:
        assert isinstance(connector, LocalConnector) and connector.label == "local" and connector.reachable
        for capability in (GpuInventory, HostUsage, ProcessIds, ServingMetrics, Topology):
            assert isinstance(connector, capability), capability.__name__
        await connector.wait_until_stable(["decode"], 30)
        pids = await connector.replica_pids("decode")
        assert sorted(pids) == ["decode-0", "decode-1"]
        assert all(psutil.pid_exists(pid) for pid in pids.values())

        observer, config = await observe_graph("seam")  # no graph file: found through the state file
        assert config.namespace == "seam" and await observer.get_component_replicas("decode") == 2
        with pytest.raises(ConnectorError, match="only observes namespace seam"):
            await observer.scale_component("decode", 3)
        assert await connector.get_component_replicas("decode") == 2

        # the observer's view follows the graph the writer changes (read again when stale, or on refresh())
        await connector.scale_component("decode", 3)
        await observer.refresh()
        assert await observer.get_component_replicas("decode") == 3
        await connector.scale_component("decode", 2)
        seen: list[int] = []

        async def observed_two() -> bool:
            seen.append(len((await observer.get_component_states())["decode"].replicas))
            return seen[-1] == 2

        deadline = asyncio.get_running_loop().time() + 30
        while not await observed_two():
            assert asyncio.get_running_loop().time() < deadline, seen
            await asyncio.sleep(0.05)
    finally:
        if observer is not None:
            await observer.shutdown(stop_graph=False)
        await connector.shutdown(stop_graph=True)
    assert not any(psutil.pid_exists(pid) for pid in pids.values())


async def test_observing_a_graph_that_does_not_run_names_it(state_root) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConnectorError, match="no running graph in namespace nothing-here"):
        connector, _ = await observe_graph("nothing-here")
        with contextlib.suppress(Exception):
            await connector.shutdown(stop_graph=False)


def test_a_connector_without_local_processes_has_none_of_their_capabilities() -> None:
    """The collector asks NVML only for connectors whose replicas hold this machine's GPUs."""

    class Remote(StaticConnector):
        gpu_holders = None  # type: ignore[assignment]
        free_gpus = None  # type: ignore[assignment]

    assert has_local_gpus(StaticConnector("ns")) and not has_local_gpus(Remote("ns"))
    assert set(BACKENDS) == {"local", "kubernetes", "global"}
