"""Fixtures: a real Global Planner (uvicorn on a loopback port, on a thread) and token files."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from planner_tui.globalplanner.server import ServerThread
from planner_tui.globalplanner.service import GlobalPlanner
from planner_tui.globalplanner.settings import ServiceSettings
from planner_tui.globalplanner.tokens import add_token, new_token
from tests.connectors.local.conftest import kill_leftovers, recorded_pids
from tests.k8s.conftest import kube_apiserver_binary, kube_cluster, kube_namespace, operator  # noqa: F401 - a real API server
from tests.runtime.conftest import open_session  # noqa: F401 - the Session fixture, for the end-to-end tests

NS = "global-infra"


class Running:
    """A started service: its URL, the service object and helpers to call it."""

    def __init__(self, thread: ServerThread) -> None:
        self.thread = thread
        self.service = thread.service
        self.url = thread.url
        self.base = f"{self.url}/{self.service.settings.namespace}/GlobalPlanner"
        self.viewer_headers: dict[str, str] = {}

    def post(self, body: Any, token: str | None = None, key: str | None = None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if key is not None:
            headers["Idempotency-Key"] = key
        if isinstance(body, bytes | str):
            return httpx.post(f"{self.base}/scale_request", content=body, headers=headers, timeout=60, **kw)
        return httpx.post(f"{self.base}/scale_request", json=body, headers=headers, timeout=60, **kw)

    def records(self) -> list[dict[str, Any]]:
        from planner_tui.planner.audit import read_records

        return list(read_records(self.service.log.path))


@pytest.fixture
def start_service(isolated_dirs: Path) -> Iterator[Callable[..., Running]]:
    """``start_service(**settings)``: a Global Planner on a free loopback port, stopped at teardown."""
    started: list[ServerThread] = []

    def start(**options: Any) -> Running:
        settings = replace(ServiceSettings(namespace=NS, port=0), **options)
        thread = ServerThread(GlobalPlanner(settings), port=0).start()
        started.append(thread)
        return Running(thread)

    yield start
    pids = recorded_pids(isolated_dirs / "state")
    for thread in reversed(started):
        with contextlib.suppress(Exception):
            thread.stop()
    kill_leftovers(pids + recorded_pids(isolated_dirs / "state"))


@pytest.fixture
def tokens(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A service token file (0600) for namespaces app-a and app-b and a viewer ops; and the tokens."""
    path = tmp_path / "tokens.toml"
    made = {"app-a": new_token(), "app-b": new_token(), "ops": new_token()}
    add_token(path, "namespace", "app-a", made["app-a"])
    add_token(path, "namespace", "app-b", made["app-b"])
    add_token(path, "viewer", "ops", made["ops"])
    assert os.stat(path).st_mode & 0o777 == 0o600
    return path, made


def scale_body(caller: str = "app-a", deployment: str = "demo", **targets: int) -> dict[str, Any]:
    """A ScaleRequest body: ``scale_body("app-a", "demo", decode=2)``."""
    return {
        "caller_namespace": caller,
        "graph_deployment_name": deployment,
        "k8s_namespace": "default",
        "target_replicas": [{"sub_component_type": k, "desired_replicas": v} for k, v in targets.items()],
    }


def worker_graph(namespace: str, load: Any, gpus: list[int], base_port: int) -> Any:
    """prefill (1..2) and decode (1..3) load workers, one GPU each, for a local-environment service."""
    from planner_tui.config import validate_graph
    from tests.runtime.conftest import worker_table

    return validate_graph(
        {
            "namespace": namespace,
            "resources": {"gpus": gpus, "port_range": [base_port, base_port + 39]},
            "components": {
                "prefill": worker_table(load, "prefill", max_replicas=2),
                "decode": worker_table(load, "decode"),
            },
        }
    )


@pytest.fixture
def two_graphs(tmp_path: Path) -> dict[str, Any]:
    """Graphs ``a`` (namespace app-a, GPUs 0-3) and ``b`` (app-b, GPUs 4-7) of real load-worker processes."""
    from tests.runtime.conftest import LoadFile

    load = LoadFile(tmp_path / "load.json")
    base = 36000 + (os.getpid() * 13) % 18000
    return {
        "a": worker_graph("app-a", load, [0, 1, 2, 3], base),
        "b": worker_graph("app-b", load, [4, 5, 6, 7], base + 40),
    }


def desired(gp: Running, deployment: str) -> dict[str, int]:
    """The deployment's desired replicas as the service's status shows them."""
    status = httpx.get(f"{gp.base}/status", headers=gp.viewer_headers, timeout=30).json()
    [found] = [d for d in status["deployments"] if d["key"] == f"default/{deployment}"]
    return {name: c["desired"] for name, c in found["components"].items()}
