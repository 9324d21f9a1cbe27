"""One writing process per local graph: a connector of another process that would change the graph is
refused, naming the process that runs it; observers still attach; the lease goes with its holder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from planner_tui.connectors.local import LocalConnector
from tests.connectors.local.conftest import make_graph, worker

ATTACH = """
import asyncio, json, sys
from planner_tui.connectors.errors import ConnectorError
from planner_tui.connectors.local import LocalConnector

async def main(observe):
    try:
        conn = await LocalConnector.attach(sys.argv[1], observe=observe)
    except ConnectorError as exc:
        print(json.dumps({"refused": str(exc)}))
        return
    states = conn.component_states()
    print(json.dumps({"replicas": states["decode"].desired_replicas}))
    await conn.shutdown(stop_graph=False)

asyncio.run(main(sys.argv[2] == "observe"))
"""


def other_process(namespace: str, how: str) -> dict[str, object]:
    """What a connector of another process gets: ``{"refused": message}`` or ``{"replicas": n}``."""
    out = subprocess.run(
        [sys.executable, "-c", ATTACH, namespace, how], capture_output=True, text=True, timeout=60, env=os.environ
    )
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


async def test_another_process_cannot_change_a_graph_this_one_runs(state_root: Path) -> None:
    graph = make_graph("one-writer", {"decode": worker()})
    first = await LocalConnector.create(graph.namespace, graph=graph)
    second = None
    try:
        second = await LocalConnector.attach(graph.namespace)  # this process's connectors share the graph
        refused = other_process(graph.namespace, "write")
        message = str(refused.get("refused"))
        assert message.startswith(f"the graph of namespace one-writer is run by pid {os.getpid()} on ")
        assert "observe it (a dashboard or status does), or stop that process first" in message
        assert other_process(graph.namespace, "observe") == {"replicas": 1}  # observers are welcome
        await second.shutdown(stop_graph=False)
        second = None
        assert "refused" in other_process(graph.namespace, "write")  # the first connector still holds it
    finally:
        if second is not None:
            await second.shutdown(stop_graph=False)
        await first.shutdown(stop_graph=False)  # leaves the graph running: the lease goes all the same
    assert other_process(graph.namespace, "write") == {"replicas": 1}  # adopted by the next writer
    last = await LocalConnector.attach(graph.namespace)
    await last.shutdown(stop_graph=True)
