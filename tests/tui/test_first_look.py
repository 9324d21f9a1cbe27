"""The dashboard's first frame shows the GPUs and the replicas the graph's state file records before the
Session is open: GPUs through the real NVML bindings over the fake library, replicas from a state file
written by the local connector's own store, real processes standing for replicas."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import psutil
import pytest

from planner_tui.config.document import GraphOutline, outline_of, parse_graph_document, read_graph_text
from planner_tui.config.paths import STATE_DIR_ENV
from planner_tui.connectors.local.state_file import NamespaceState, ReplicaRecord, StateStore
from planner_tui.model import Phase, Snapshot
from planner_tui.runtime.first_look import FirstLook
from planner_tui.runtime.source import GraphSource
from planner_tui.tui.app import DashboardApp
from planner_tui.tui.widgets import ComponentPanel, GpuPanel
from tests.metrics.conftest import fake_nvml, fake_nvml_path  # noqa: F401 - fixtures

GRAPH = """
namespace = "firstlook"
[resources]
gpus = [0, 1, 2]
[planner]
mode = "paused"
[components.worker]
role = "decode"
command = "sleep"
args = ["1000"]
gpus_per_replica = 1
min_replicas = 2
max_replicas = 3
"""


@pytest.fixture
def graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GraphOutline:
    """The graph file's outline: what the dashboard reads before the file is validated."""
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "state"))
    path = tmp_path / "graph.toml"
    path.write_text(GRAPH)
    outline = outline_of(parse_graph_document(read_graph_text(path), str(path)))
    assert outline is not None
    return outline


def record(tmp_path: Path, live_pid: int) -> None:
    """The state file of a running graph: worker-0 runs (``live_pid``), worker-1's process is gone."""
    live = ReplicaRecord("worker", 0, gpus=[0], pid=live_pid, pid_create_time=psutil.Process(live_pid).create_time())
    gone = ReplicaRecord("worker", 1, gpus=[1], pid=live_pid, pid_create_time=1.0)  # a reused pid is not it
    store = StateStore("firstlook", tmp_path / "state")
    store.ensure_dirs()
    store.write(
        NamespaceState(
            "firstlook",
            graph={},
            desired={"worker": 2},
            replicas={"firstlook_worker_0": live, "firstlook_worker_1": gone},
        )
    )


def test_the_first_look_has_the_gpus_and_the_recorded_replicas(
    graph: GraphOutline,
    tmp_path: Path,
    fake_nvml: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    replica_process: subprocess.Popen[bytes],
) -> None:
    monkeypatch.setenv("FAKE_NVML_GPU_COUNT", "3")
    monkeypatch.setenv("FAKE_NVML_PROCESSES", f"0:{replica_process.pid}:2048")
    record(tmp_path, replica_process.pid)
    snapshot = FirstLook(graph).snapshot(timeout=30)
    worker = snapshot.components["worker"]
    assert worker.desired_replicas == 2
    assert [(r.name, r.phase, r.pid) for r in worker.replicas] == [
        ("worker-0", Phase.RUNNING, replica_process.pid),
        ("worker-1", Phase.STARTING, None),
    ]
    assert [(g.index, g.name, g.holders) for g in snapshot.gpus] == [
        (0, "Fake GPU 0", ("worker-0",)),
        (1, "Fake GPU 1", ("worker-1",)),
        (2, "Fake GPU 2", ()),
    ]
    assert snapshot.gpus[0].processes[0].replica == "worker-0"


def test_without_nvml_or_a_state_file_it_says_so_and_lists_the_components(
    graph: GraphOutline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from planner_tui.metrics import nvml

    nvml.use_library(tmp_path / "no-libnvidia-ml.so.1")
    try:
        snapshot = FirstLook(graph).snapshot(timeout=30)
    finally:
        nvml.use_library(None)
    assert snapshot.gpus == () and snapshot.gpu_status is not None
    assert snapshot.gpu_status.startswith("no NVIDIA GPU: cannot load NVML library")
    assert snapshot.components["worker"].replicas == () and snapshot.components["worker"].desired_replicas == 2


class SlowOpener:
    """A graph whose Session takes longer than the test to open; its first look is the real one."""

    def __init__(self, graph: GraphOutline) -> None:
        self.namespace = graph.namespace
        self._look = FirstLook(graph)
        self.opened = asyncio.Event()

    def first_look(self) -> Snapshot:
        return self._look.snapshot(timeout=30)

    async def __call__(self) -> GraphSource:
        await self.opened.wait()  # never set: the Session is still starting
        raise AssertionError("unreachable")


async def test_the_dashboard_draws_them_while_the_session_is_still_opening(
    graph: GraphOutline,
    tmp_path: Path,
    fake_nvml: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    replica_process: subprocess.Popen[bytes],
) -> None:
    monkeypatch.setenv("FAKE_NVML_GPU_COUNT", "3")
    record(tmp_path, replica_process.pid)
    app = DashboardApp(opener=SlowOpener(graph), remember_theme=False)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):
            await pilot.pause(0.05)
            if app.snapshot is not None and app.main_screen.query(ComponentPanel):
                break
        await pilot.pause()
        assert app.source is None  # still opening
        gpu_lines = str(app.main_screen.query_one(GpuPanel).render()).splitlines()
        assert [line.split()[0] for line in gpu_lines[:3]] == ["0", "1", "2"]
        assert "worker-0" in gpu_lines[0] and "30%" in gpu_lines[2]
        panel = str(app.main_screen.query_one(ComponentPanel).render())
        assert f"{replica_process.pid}" in panel and "running" in panel and "starting" in panel
        app.workers.cancel_group(app, "open")
