"""The dashboard's load keys find the simulated frontend through the graph file, not its command line."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from planner_tui.config import GraphConfig, demo_graph_path, load_graph, validate_graph
from planner_tui.config.errors import ConfigError
from planner_tui.connectors.errors import ConnectorError
from planner_tui.loadcontrol.locate import load_control_url
from planner_tui.runtime.speedup import is_simulated

SIM_FRONTEND = ["-m", "planner_tui", "sim", "frontend", "--port", "{port}", "--rps", "4", "--seed", "1"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def frontend_graph(namespace: str, port: int | None, **frontend: Any) -> GraphConfig:
    base = 24000 + free_port() % 30000
    table = {
        "role": "frontend",
        "command": "{python}",
        "args": SIM_FRONTEND,
        "port": port,
        "health_url": "http://127.0.0.1:{port}/health",
    } | frontend
    return validate_graph(
        {"namespace": namespace, "resources": {"port_range": [base, base + 9]}, "components": {"frontend": table}}
    )


def test_the_demo_graph_marks_its_sim_processes_and_names_the_load_control_frontend() -> None:
    demo = load_graph(demo_graph_path())
    assert all(comp.simulated for comp in demo.components.values())
    assert is_simulated(demo)
    assert load_control_url(demo) == f"http://127.0.0.1:{demo.components['frontend'].port}"


def test_a_sim_command_line_without_the_flag_is_not_taken_for_the_sim() -> None:
    unmarked = frontend_graph("lc-unmarked", 21555)
    assert load_control_url(unmarked) is None and not is_simulated(unmarked)
    marked = frontend_graph("lc-marked", 21555, simulated=True)
    assert load_control_url(marked) == "http://127.0.0.1:21555" and is_simulated(marked)
    worker = frontend_graph("lc-worker", 21555, simulated=True, role="decode")
    assert load_control_url(worker) is None  # only a frontend takes the load keys


def test_a_simulated_frontend_without_a_fixed_port_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match="a simulated frontend needs a fixed port"):
        frontend_graph("lc-noport", None, simulated=True)


async def test_the_load_key_scales_the_simulated_frontend_named_in_the_graph(open_session) -> None:
    port = free_port()
    session = await open_session(frontend_graph("lc-session", port, simulated=True))
    assert session.simulated_frontend_url() == f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:  # the frontend writes its token when it starts listening
        try:
            answer = await session.scale_load(2.0)
            break
        except ConnectorError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    assert answer["rps"] == 8.0, answer


async def test_without_a_simulated_frontend_the_load_key_says_so(open_session) -> None:
    session = await open_session(frontend_graph("lc-none", free_port()))
    with pytest.raises(ConnectorError, match="no simulated frontend in this graph"):
        await session.scale_load(2.0)
