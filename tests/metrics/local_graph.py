"""A small graph of real metrics-serving processes under the real LocalConnector (circus)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
from pathlib import Path

from planner_tui.config import GraphConfig, validate_graph
from planner_tui.connectors.local import LocalConnector
from tests.connectors.local.conftest import kill_leftovers, recorded_pids
from tests.metrics.expositions import worker_text

TARGET = str(Path(__file__).with_name("metrics_target.py"))
_graphs = itertools.count()


def decode_graph(namespace: str, body_dir: Path, replicas: int = 2) -> GraphConfig:
    """``decode`` replicas serving ``body_dir/body-{replica}.prom`` on their allocated ports, 1 simulated GPU each."""
    for index in range(4):
        (body_dir / f"body-{index}.prom").write_text(
            worker_text(
                kv=0.2 + 0.4 * index, waiting=index + 1, running=2, requests=10, ttft_fast=0, ttft_total=0, gpu=index
            )
        )
    base = 40000 + (next(_graphs) * 20 + os.getpid() * 13) % 15000
    return validate_graph(
        {
            "namespace": namespace,
            "resources": {"gpus": [0, 1, 2, 3], "simulated_gpus": True, "port_range": [base, base + 19]},
            "metrics": {"interval_s": 0.25},
            "components": {
                "decode": {
                    "role": "decode",
                    "command": "{python}",
                    "args": [TARGET, "--port", "{port}", "--body-file", str(body_dir / "body-{replica}.prom")],
                    "gpus_per_replica": 1,
                    "min_replicas": 1,
                    "max_replicas": 4,
                    "initial_replicas": replicas,
                    "metrics_url": "http://127.0.0.1:{port}/metrics",
                    "health_url": "http://127.0.0.1:{port}/health",
                    "graceful_timeout_s": 3.0,
                }
            },
        }
    )


async def start_graph(graph: GraphConfig) -> LocalConnector:
    """Start ``graph`` under circus (the python running the tests runs the replicas)."""
    assert sys.executable
    return await LocalConnector.create(graph.namespace, graph=graph)


async def stop_graph(namespace: str, state_root: Path) -> None:
    """Stop the graph of ``namespace`` (attaching to it) and kill anything left behind."""
    pids = recorded_pids(state_root)
    with contextlib.suppress(Exception):
        connector = await LocalConnector.attach(namespace)
        await asyncio.wait_for(connector.shutdown(stop_graph=True), 30)
    kill_leftovers(pids + recorded_pids(state_root))
