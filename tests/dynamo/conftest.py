"""Fixtures for tests against real Dynamo 1.6.1 processes (see ``harness.py``).

- ``dynamo_python`` (session): the Dynamo venv's interpreter, built on first use under a file lock.
  Outside CI a venv that cannot be built skips these tests with pip's output; with ``CI=true`` it fails
  them (the root conftest also turns any skip in CI into a failure).
- ``dynamo_model`` (session): the mocker's model directory.
- ``dynamo_graph_factory``: ``make(options) -> GraphConfig`` for this test (its own ports, kv dir, HOME).
- ``running_dynamo``: ``await start(graph) -> LocalConnector``, with the frontend answering chat
  completions; at teardown the graph is stopped and no process it started (nor any child) survives.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import psutil
import pytest

from planner_tui.config import GraphConfig
from planner_tui.connectors.local import LocalConnector
from tests.connectors.local.conftest import alive, kill_leftovers, recorded_pids
from tests.dynamo.harness import (
    DynamoUnavailable,
    GraphOptions,
    dynamo_graph,
    ensure_dynamo,
    frontend_url,
    wait_graph_serving,
    write_model,
)

_graphs = itertools.count()


@pytest.fixture(scope="session")
def dynamo_python() -> Path:
    """The Dynamo venv's python (built if missing)."""
    try:
        return ensure_dynamo()
    except DynamoUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the real-Dynamo tests, but the Dynamo venv could not be built: {exc}")
        pytest.skip(f"Dynamo {exc}")


@pytest.fixture(scope="session")
def dynamo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mocker's model directory (config, tokenizer with 2048 ids, chat template)."""
    return write_model(tmp_path_factory.mktemp("dynamo-model"))


@pytest.fixture
def dynamo_graph_factory(dynamo_python: Path, dynamo_model: Path, isolated_dirs: Path) -> Callable[..., GraphConfig]:
    """``make(options=None, namespace=None)``: a Dynamo graph file for this test."""

    def make(options: GraphOptions | None = None, namespace: str | None = None) -> GraphConfig:
        index = next(_graphs)
        name = namespace or f"dyn{os.getpid() % 10000}-{index}"
        return dynamo_graph(name, dynamo_python, dynamo_model, isolated_dirs / f"dynamo-{index}", options)

    return make


def _process_tree(pids: list[tuple[int, float | None]]) -> list[psutil.Process]:
    out: list[psutil.Process] = []
    for pid, create_time in pids:
        if not alive(pid, create_time):
            continue
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            out.append(proc)
            out.extend(proc.children(recursive=True))
    return out


@pytest.fixture
async def running_dynamo(isolated_dirs: Path) -> AsyncIterator[Callable[..., Awaitable[LocalConnector]]]:
    """``await start(graph, serving=True)``: the graph under a real LocalConnector; stopped at teardown.

    Teardown stops the graph through the connector, then requires that no process recorded in the
    state files, nor any of their children seen before the stop, is still alive (orphans are killed and
    reported as a failure).
    """
    state_root = isolated_dirs / "state"
    made: list[LocalConnector] = []
    seen: dict[int, psutil.Process] = {}

    def remember() -> None:
        for proc in _process_tree(recorded_pids(state_root)):
            seen.setdefault(proc.pid, proc)

    async def start(graph: GraphConfig, serving: bool = True, **options: object) -> LocalConnector:
        options.setdefault("crash_backoff_s", 0.2)
        connector = await LocalConnector.create(graph.namespace, graph=graph, **options)
        made.append(connector)
        remember()
        if serving:
            await wait_graph_serving(frontend_url(graph), timeout=60.0)
            remember()
        return connector

    start.remember = remember  # type: ignore[attr-defined]
    yield start
    remember()
    pids = recorded_pids(state_root)
    for connector in reversed(made):
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connector.shutdown(stop_graph=True), 60)
    survivors: list[psutil.Process] = []
    _gone, still = psutil.wait_procs(list(seen.values()), timeout=10)
    for proc in still:
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE:
                survivors.append(proc)
                proc.kill()
    kill_leftovers(pids + recorded_pids(state_root))
    assert not survivors, f"processes left behind by the Dynamo graph: {[p.pid for p in survivors]}"


@pytest.fixture
def dynamo_state_root(isolated_dirs: Path) -> Iterator[Path]:
    """The test's state directory (the local connector's state files live under it)."""
    yield isolated_dirs / "state"
