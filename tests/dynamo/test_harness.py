"""The harness itself: a real Dynamo frontend + prefill + decode mocker graph starts, serves and stops."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from planner_tui.config import GraphConfig
from planner_tui.connectors.local import LocalConnector
from tests.dynamo.harness import VOCAB_SIZE, LoadDriver, chat, frontend_url, get_text, wait_for, write_model


def test_model_directory_covers_the_mocker_token_ids(tmp_path: Path) -> None:
    model = write_model(tmp_path / "m")
    tokenizer = json.loads((model / "tokenizer.json").read_text())
    ids = set(tokenizer["model"]["vocab"].values())
    assert set(range(1000, 2000)) <= ids and len(ids) >= VOCAB_SIZE >= 2000
    assert "chat_template" in json.loads((model / "tokenizer_config.json").read_text())
    assert json.loads((model / "config.json").read_text())["model_type"] == "llama"
    assert (model / "generation_config.json").exists()


async def test_graph_serves_chat_completions_and_stops_cleanly(
    dynamo_graph_factory: Callable[..., GraphConfig],
    running_dynamo: Callable[..., Awaitable[LocalConnector]],
) -> None:
    graph = dynamo_graph_factory()
    connector = await running_dynamo(graph)
    url = frontend_url(graph)
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        response = await chat(client, url, max_tokens=8)
    assert response.status_code == 200, response.text
    content = response.json()["choices"][0]["message"]["content"]
    assert content.strip(), "the reply decoded empty: the tokenizer does not cover the mocker's ids"
    driver = LoadDriver(url, concurrency=4, max_tokens=16)
    driver.start()
    await wait_for(lambda: driver.result.ok >= 8 or driver.result.failed, 30, "8 answered requests")
    result = await driver.stop()
    assert result.failed == [] and result.ok >= 8
    states = await connector.get_component_states()
    for name in ("frontend", "prefill", "decode"):
        (replica,) = states[name].replicas
        text = await get_text(replica.metrics_url or "")
        assert text and "dynamo_" in text, name
