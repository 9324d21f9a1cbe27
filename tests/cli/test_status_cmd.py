"""``planner-tui status``: one Snapshot of a running graph, attached through its state file."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from planner_tui.config import GraphConfig
from tests.connectors.local.conftest import alive
from tests.metrics.local_graph import decode_graph, start_graph, stop_graph


def run_status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planner_tui", "status", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
async def running_graph(tmp_path: Path, isolated_dirs: Path) -> AsyncIterator[GraphConfig]:
    """A two-replica graph left running (the connector detached), stopped at teardown."""
    graph = decode_graph("mstatus", tmp_path)
    connector = await start_graph(graph)
    for _ in range(300):  # wait until both replicas answer their health URL
        states = await connector.get_component_states()
        if states["decode"].ready_replicas == 2:
            break
        await asyncio.sleep(0.1)
    await connector.shutdown(stop_graph=False)
    yield graph
    await stop_graph(graph.namespace, isolated_dirs / "state")


async def test_status_json_prints_one_snapshot(running_graph: GraphConfig) -> None:
    result = await asyncio.to_thread(run_status, "--json", "--namespace", running_graph.namespace)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema_version"] == 1 and data["namespace"] == "mstatus"
    decode = data["components"]["decode"]
    assert decode["ready_replicas"] == 2 and {r["name"] for r in decode["replicas"]} == {"decode-0", "decode-1"}
    kv = next(s for s in data["signals"] if s["component"] == "decode" and s["signal"] == "kv_usage")
    assert kv["value"] == pytest.approx(0.4) and kv["stale"] is False
    rate = next(s for s in data["signals"] if s["signal"] == "request_rate")
    assert rate["value"] == 0  # two samples: the counter did not move
    assert {g["index"] for g in data["gpus"]} >= {0, 1} and all(g["simulated"] for g in data["gpus"])
    assert set(data["usage"]) == {"decode-0", "decode-1"}


async def test_status_summary_and_graph_file(running_graph: GraphConfig, tmp_path: Path) -> None:
    graph_file = tmp_path / "graph.toml"
    graph_file.write_text(
        f'namespace = "{running_graph.namespace}"\n[components.decode]\nrole = "decode"\ncommand = "x"\n'
        'signals = { kv_usage = "vllm:num_requests_running" }\n'
    )
    result = await asyncio.to_thread(run_status, "--graph", str(graph_file), "--samples", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "namespace mstatus"
    decode = next(line for line in lines if line.strip().startswith("decode"))
    # the override: 2 running on each, averaged, and marked, since a KV usage is a fraction of 0..1
    assert "2/2 ready" in decode and "kv_usage=2 (invalid: decode-0: outside 0..1)" in decode
    assert any("simulated GPU 0" in line and "decode-" in line for line in lines)


def test_status_without_a_running_graph_says_so() -> None:
    result = run_status("--json", "--namespace", "nothing-runs-here")
    assert result.returncode == 1
    assert "no running graph in namespace nothing-runs-here" in result.stderr and result.stdout == ""


def test_status_refuses_namespace_and_graph_together(tmp_path: Path) -> None:
    graph_file = tmp_path / "graph.toml"
    graph_file.write_text('namespace = "x"\n[components.a]\nrole = "other"\ncommand = "x"\n')
    result = run_status("--namespace", "x", "--graph", str(graph_file))
    assert result.returncode == 2 and "not both" in result.stderr


async def test_status_never_changes_a_graph_left_without_owner(running_graph: GraphConfig, isolated_dirs: Path) -> None:
    """Reported: with circusd dead, status restarted the whole graph. It must only look."""
    state_file = isolated_dirs / "state" / "local" / f"{running_graph.namespace}.json"
    state = json.loads(state_file.read_text())
    circusd = state["circusd"]["pid"]
    replicas = [r["pid"] for r in state["replicas"].values()]
    os.kill(circusd, signal.SIGKILL)  # the graph's manager dies; its replicas live on
    while alive(circusd):
        await asyncio.sleep(0.02)
    os.kill(replicas[0], signal.SIGKILL)  # and one replica with it
    before = state_file.read_bytes()
    result = await asyncio.to_thread(run_status, "--namespace", running_graph.namespace, "--samples", "1")
    assert result.returncode == 0, result.stderr
    assert "owner: none" in result.stdout
    assert "crashed" in result.stdout  # the dead replica is shown as such, with its reason
    assert state_file.read_bytes() == before  # nothing recorded
    after = json.loads(state_file.read_text())
    assert after["circusd"]["pid"] == circusd and not alive(circusd)  # no circusd started again
    assert not alive(replicas[0])  # no replica relaunched


async def test_status_reads_the_owners_snapshot(tmp_path: Path, isolated_dirs: Path) -> None:
    from planner_tui.runtime import Session

    graph = decode_graph("mowned", tmp_path)
    session = await Session.open(graph)
    try:
        while session.latest_snapshot is None:
            await asyncio.wait_for(session.subscribe().get(), 30)
        result = await asyncio.to_thread(run_status, "--json", "--namespace", graph.namespace)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["owner"]["pid"] == os.getpid()
        assert data["namespace"] == "mowned" and set(data["components"]) == {"decode"}
        assert "collecting" not in result.stderr  # read from the owner's feed, not collected again
        summary = await asyncio.to_thread(run_status, "--namespace", graph.namespace)
        assert f"owner: pid {os.getpid()} on " in summary.stdout
    finally:
        await session.close(stop_graph=True)


def test_summary_prints_gpu_figures_as_plain_numbers() -> None:
    from planner_tui.cli.status_cmd import summary_lines
    from planner_tui.model import GpuOrigin, GpuSample, Snapshot

    gpu = GpuSample(
        index=0,
        origin=GpuOrigin.NVML,
        timestamp=1.0,
        utilization_pct=37.5,
        memory_used_mib=19800.0,
        memory_total_mib=81559.0,
        holders=("decode-0",),
    )
    lines = summary_lines(Snapshot(timestamp=1.0, namespace="ns", gpus=(gpu,)))
    assert "  GPU 0: util 37.5% mem 19800/81559 MiB  decode-0" in lines
