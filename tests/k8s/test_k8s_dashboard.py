"""The dashboard on the kubernetes connector: ``planner-tui --graph examples/k8s/dgd.toml`` against the test
cluster shows the DGD's services with their pods, the connector's label, and the degraded state when the
API server goes away."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from textual.pilot import Pilot

from planner_tui.config import GraphConfig
from planner_tui.connectors.factory import open_connector
from planner_tui.metrics.collector import Collector
from planner_tui.model import PlannerMode
from planner_tui.runtime import Session
from planner_tui.tui.app import DashboardApp
from tests.k8s.cluster import KubeCluster
from tests.k8s.helpers_connector import DGD_NAME, cluster_graph, dynamo_pod, ready_dgd
from tests.k8s.operator import Operator
from tests.tui.dashboard_fixtures import frozen_clock

SnapCompare = Callable[..., bool]
#: a fixed namespace name: it shows in the header of the snapshot
NAMESPACE = "k8s-dashboard"


def prepare(kube_cluster: KubeCluster, operator: Operator, namespace: str) -> GraphConfig:
    """examples/k8s/dgd.toml on a DGD with two decode pods (one crash-looping) and an unschedulable prefill."""
    operator.create_namespace(namespace)
    kube_cluster.grant(namespace)
    ready_dgd(operator, namespace, replicas=2)
    dynamo_pod(operator, namespace, "frontend", 0)
    dynamo_pod(operator, namespace, "decode", 0)
    crashing = dynamo_pod(operator, namespace, "decode", 1)
    operator.set_pod_status(namespace, crashing, restarts=3, waiting_reason="CrashLoopBackOff")
    pending = dynamo_pod(operator, namespace, "prefill", 0, running=False)
    operator.set_pod_status(namespace, pending, unschedulable_message="0/1 nodes are available: 1 Insufficient gpu.")
    return cluster_graph(kube_cluster, namespace)


@pytest.fixture
def opened() -> Iterator[list[Session]]:
    """The Sessions the test's dashboards opened: their watches stopped and leases given back at the end
    (a test app is not quit through its dialog, and a snapshot test's event loop is gone by then)."""
    sessions: list[Session] = []
    yield sessions
    for session in sessions:
        asyncio.run(session.connector.shutdown(stop_graph=False))
        if session.lease is not None:
            session.lease.release()


def dashboard(graph: GraphConfig, opened: list[Session]) -> DashboardApp:
    """The dashboard opening a paused Session on ``graph`` through the connector factory, as
    ``planner-tui --graph`` does, collecting only the connector's state (no host or GPU source: the
    picture must not depend on this machine); the Session goes to ``opened``."""

    async def open_session() -> Session:
        connector = await open_connector(graph)
        collector = Collector(connector, graph, sources=[])
        session = await Session.open(graph, connector=connector, collector=collector, mode=PlannerMode.PAUSED)
        opened.append(session)
        return session

    return DashboardApp(opener=open_session, clock=frozen_clock, header_interval_s=3600, remember_theme=False)


async def settled(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, DashboardApp)
    for _ in range(100):
        if app.snapshot is not None and len(app.snapshot.components["decode"].replicas) == 2:
            break
        await pilot.pause(0.05)
    for _ in range(3):
        await pilot.pause()
    await pilot.wait_for_scheduled_animations()


def test_the_dashboard_shows_the_cluster_graph(
    snap_compare: SnapCompare, kube_cluster: KubeCluster, operator: Operator, opened: list[Session]
) -> None:
    app = dashboard(prepare(kube_cluster, operator, NAMESPACE), opened)
    assert snap_compare(app, terminal_size=(120, 40), run_before=settled)


async def test_the_header_degrades_and_recovers_with_the_api_server(
    kube_cluster: KubeCluster, operator: Operator, kube_namespace: str, opened: list[Session]
) -> None:
    app = dashboard(prepare(kube_cluster, operator, kube_namespace), opened)
    label = f"kubernetes dgd/{kube_namespace}/{DGD_NAME}"
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        assert app.header_state().connector == label
        assert any("CrashLoopBackOff" in a for a in app.alerts())
        await asyncio.to_thread(kube_cluster.stop_apiserver)
        try:
            for _ in range(400):
                if "API unreachable" in app.header_state().connector:
                    break
                await pilot.pause(0.05)
            assert app.header_state().connector == f"{label} · API unreachable"
            assert any("not reachable" in a for a in app.alerts())
            assert app.snapshot is not None and len(app.snapshot.components["decode"].replicas) == 2  # last seen
        finally:
            await asyncio.to_thread(kube_cluster.start_apiserver)
        for _ in range(600):
            if app.header_state().connector == label:
                break
            await pilot.pause(0.05)
        assert app.header_state().connector == label
        assert not any("not reachable" in a for a in app.alerts())
