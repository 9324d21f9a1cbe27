"""Fixtures for Session tests: a graph of real load-worker processes under the local connector."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from planner_tui.config import GraphConfig, validate_graph
from planner_tui.model import Decision
from planner_tui.runtime import DecisionMade, Session, SessionEvent
from tests.connectors.local.conftest import kill_leftovers, recorded_pids

WORKER = str(Path(__file__).with_name("load_worker.py"))
_ports = itertools.count(0)


class LoadFile:
    """The JSON file the load workers read: ``set("decode", kv=0.95)``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, dict[str, float]] = {}
        self.write()

    def set(self, component: str, **values: float) -> None:
        self.data[component] = values
        self.write()

    def write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path)


@pytest.fixture
def load_file(tmp_path: Path) -> LoadFile:
    return LoadFile(tmp_path / "load.json")


def worker_table(load: LoadFile, role: str, **overrides: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "role": role,
        "command": "{python}",
        "args": [WORKER, "--port", "{port}", "--load-file", str(load.path), "--component", "{component}"],
        "gpus_per_replica": 1,
        "min_replicas": 1,
        "max_replicas": 3,
        "health_url": "http://127.0.0.1:{port}/health",
        "metrics_url": "http://127.0.0.1:{port}/metrics",
        "graceful_timeout_s": 3.0,
    }
    table.update(overrides)
    return table


def session_graph(
    namespace: str, load: LoadFile, gpus: list[int] | None = None, planner: dict[str, Any] | None = None
) -> GraphConfig:
    """prefill (1..2) + decode (1..3) load workers, deciding every 0.5 s."""
    base = 36000 + (next(_ports) * 40 + os.getpid() * 11) % 18000
    settings = {
        "adjustment_interval_s": 0.5,
        "scale_down_stabilization_s": 0,
        "decode_scale_down_grace_intervals": 1,
    } | (planner or {})
    return validate_graph(
        {
            "namespace": namespace,
            "resources": {"gpus": gpus if gpus is not None else [0, 1, 2, 3], "port_range": [base, base + 39]},
            "metrics": {"interval_s": 0.25},
            "planner": settings,
            "components": {
                "prefill": worker_table(load, "prefill", max_replicas=2),
                "decode": worker_table(load, "decode"),
            },
        }
    )


@pytest.fixture
async def open_session(isolated_dirs: Path) -> AsyncIterator[Callable[..., Awaitable[Session]]]:
    """``await open_session(graph, **options)``: a Session closed (graph stopped) at teardown."""
    root = isolated_dirs / "state"
    made: list[Session] = []

    async def factory(graph: GraphConfig, **options: Any) -> Session:
        session = await Session.open(graph, **options)
        made.append(session)
        return session

    yield factory
    pids = recorded_pids(root)
    for session in reversed(made):
        with contextlib.suppress(Exception):
            await asyncio.wait_for(session.close(stop_graph=True), 60)
    kill_leftovers(pids + recorded_pids(root))


async def next_decision(
    queue: asyncio.Queue[SessionEvent], match: Callable[[Decision], bool], timeout: float = 30.0, what: str = ""
) -> Decision:
    """The first DecisionMade event whose decision matches, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out after {timeout} s waiting for a decision: {what}")
        try:
            event = await asyncio.wait_for(queue.get(), timeout=remaining)
        except TimeoutError:
            continue
        if isinstance(event, DecisionMade) and match(event.decision):
            return event.decision


@pytest.fixture(autouse=True)
def _no_leftovers(isolated_dirs: Path) -> Iterator[None]:
    yield
    kill_leftovers(recorded_pids(isolated_dirs / "state"))
