"""examples/dynamo/graph.toml as a user runs it: valid, and with the Dynamo venv and the model directory
in place, it serves chat completions (its fixed ports swapped for free ones, its paths for the test's)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from planner_tui.config import GraphConfig, load_graph, validate_graph
from planner_tui.connectors.local import LocalConnector
from tests.dynamo.harness import chat, free_port_range

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dynamo" / "graph.toml"


def test_example_graph_is_valid_and_names_nothing_machine_specific() -> None:
    graph = load_graph(EXAMPLE)
    assert {c.role.value for c in graph.components.values()} == {"frontend", "prefill", "decode"}
    text = EXAMPLE.read_text()
    assert "/root" not in text and "/home/" not in text
    assert graph.resources.port_range[1] < 32768  # Dynamo reads DYN_SYSTEM_PORT as an i16


async def test_example_graph_serves(
    dynamo_python: Path,
    dynamo_model: Path,
    isolated_dirs: Path,
    running_dynamo: Callable[..., Awaitable[LocalConnector]],
) -> None:
    data = json.loads(load_graph(EXAMPLE).model_dump_json())
    first, last = free_port_range(41)
    text = json.dumps(data).replace("/tmp/planner-tui-dynamo/model", str(dynamo_model))
    text = text.replace("/tmp/planner-tui-dynamo/", str(isolated_dirs / "dynamo") + "/")
    data = json.loads(text)
    data["python"] = str(dynamo_python)
    data["components"]["frontend"]["port"] = first
    data["resources"]["port_range"] = [first + 1, last]
    data["namespace"] = "dyn-example"
    data["env"]["HOME"] = str(isolated_dirs / "home")
    graph: GraphConfig = validate_graph(data)
    await running_dynamo(graph)
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        response = await chat(client, f"http://127.0.0.1:{first}", max_tokens=8)
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"].strip()
