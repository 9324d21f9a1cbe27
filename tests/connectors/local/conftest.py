"""Fixtures for the local connector: graphs of small real replica processes, and a teardown that
leaves no circusd or replica behind (checked by the pids recorded in the test's state files)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from planner_tui.config import GraphConfig, validate_graph
from planner_tui.connectors.local import LocalConnector

APP = str(Path(__file__).with_name("replica_app.py"))
_ports = itertools.count(0)


def replica_args(*extra: str) -> list[str]:
    """Arguments that run the test replica on the allocated port."""
    return [APP, "--port", "{port}", "--name", "{component}{replica}", *extra]


def worker(**overrides: Any) -> dict[str, Any]:
    """A component table running the test replica, with a health URL."""
    table: dict[str, Any] = {
        "role": "decode",
        "command": "{python}",
        "args": replica_args(),
        "gpus_per_replica": 1,
        "min_replicas": 1,
        "max_replicas": 4,
        "health_url": "http://127.0.0.1:{port}/health",
        "metrics_url": "http://127.0.0.1:{port}/metrics",
        "graceful_timeout_s": 3.0,
    }
    table.update(overrides)
    return table


def make_graph(namespace: str, components: dict[str, dict[str, Any]], gpus: Any = (0, 1, 2, 3)) -> GraphConfig:
    """A graph with its own port range (so parallel tests do not compete for ports)."""
    base = 32000 + (next(_ports) * 40 + os.getpid() * 7) % 20000
    return validate_graph(
        {
            "namespace": namespace,
            "resources": {"gpus": list(gpus) if not isinstance(gpus, str) else gpus, "port_range": [base, base + 39]},
            "components": components,
        }
    )


def recorded_pids(state_root: Path) -> list[tuple[int, float | None]]:
    """Every circusd and replica pid the state files under ``state_root`` mention."""
    out: list[tuple[int, float | None]] = []
    for path in state_root.glob("local/*.json"):
        with contextlib.suppress(ValueError, OSError):
            data = json.loads(path.read_text())
            if data.get("circusd"):
                out.append((data["circusd"]["pid"], data["circusd"]["create_time"]))
            for rec in (data.get("replicas") or {}).values():
                if rec.get("pid"):
                    out.append((rec["pid"], rec.get("pid_create_time")))
    return out


def alive(pid: int, create_time: float | None = None) -> bool:
    """True while ``pid`` runs (zombies do not count)."""
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > 0.05:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_leftovers(pids: list[tuple[int, float | None]]) -> None:
    """Last-resort cleanup so a failing test does not leave processes behind: the recorded processes and
    their children (a replica circusd started after the state file was last written, e.g. when its
    owner was killed mid scale-up, is known only to circusd)."""
    recorded: list[psutil.Process] = []
    for pid, create_time in pids:
        if alive(pid, create_time):
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                proc.send_signal(signal.SIGSTOP)  # frozen first: a circusd cannot start a replica meanwhile
                recorded.append(proc)
    doomed: list[psutil.Process] = []
    for proc in recorded:
        with contextlib.suppress(psutil.Error):
            doomed += [proc, *proc.children(recursive=True)]
    for proc in doomed:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    # SIGKILL is delivered when the process next runs: on a busy machine it can still be listed (and its
    # environment read) a moment later, so wait until each is gone or a zombie, at most 5 s
    deadline = time.monotonic() + 5.0
    while any(alive(p.pid) for p in doomed) and time.monotonic() < deadline:
        time.sleep(0.01)


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], timeout: float = 25.0, what: str = "condition"
) -> None:
    """Poll ``check`` until it is true, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def state_root(isolated_dirs: Path) -> Iterator[Path]:
    """The test's state directory; every process recorded there is killed at teardown."""
    root = isolated_dirs / "state"
    seen: list[tuple[int, float | None]] = []
    yield root
    seen.extend(recorded_pids(root))
    kill_leftovers(seen)


@pytest.fixture
async def connect(state_root: Path) -> AsyncIterator[Callable[..., Awaitable[LocalConnector]]]:
    """``await connect(graph, **options)``: a started LocalConnector, shut down (graph stopped) at teardown."""
    made: list[LocalConnector] = []

    async def factory(graph: GraphConfig, **options: Any) -> LocalConnector:
        options.setdefault("crash_backoff_s", 0.1)
        connector = await LocalConnector.create(graph.namespace, graph=graph, **options)
        made.append(connector)
        return connector

    yield factory
    pids = recorded_pids(state_root)
    for connector in reversed(made):
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connector.shutdown(stop_graph=True), 30)
    kill_leftovers(pids + recorded_pids(state_root))


def python() -> str:
    """The interpreter running the tests (and the replicas)."""
    return sys.executable
