"""The API server goes away and comes back: the connector degrades (never crashes), a scale asked for
meanwhile is applied exactly once when it is back, and watches that expired (410 Gone) list again."""

from __future__ import annotations

import asyncio

from tests.k8s.cluster import KubeCluster
from tests.k8s.helpers_connector import DGD_NAME, SERVICES, cluster_graph, desired, dynamo_pod, opened, ready_dgd
from tests.k8s.operator import Operator


async def test_a_scale_during_an_outage_is_applied_once_when_the_server_is_back(
    kube_cluster: KubeCluster, operator: Operator, kube_namespace: str
) -> None:
    kube_cluster.grant(kube_namespace)
    ready_dgd(operator, kube_namespace)
    async with opened(cluster_graph(kube_cluster, kube_namespace)) as connector:
        before = operator.get_dgd(kube_namespace, DGD_NAME)["metadata"]["generation"]
        label = connector.label
        await asyncio.to_thread(kube_cluster.stop_apiserver)
        try:
            await connector.until(lambda: not connector.reachable, 60, "the outage noticed")
            assert connector.label == f"{label} · API unreachable"
            assert any("not reachable" in p and "retrying with backoff" in p for p in connector.problems)
            # the last state seen is still shown
            states = await connector.get_component_states()
            assert states["decode"].desired_replicas == 1

            scale = asyncio.ensure_future(connector.scale_component("decode", 3))
            await asyncio.sleep(0)  # let it make its first attempt
            done, _ = await asyncio.wait({scale}, timeout=1.0)
            assert not done, "the scale must wait for the API server, not fail"
            assert not connector.reachable
        finally:
            await asyncio.to_thread(kube_cluster.start_apiserver)
        assert await asyncio.wait_for(scale, 30) is True
        dgd = operator.get_dgd(kube_namespace, DGD_NAME)
        assert dgd["spec"]["services"][SERVICES["decode"]]["replicas"] == 3
        assert dgd["metadata"]["generation"] == before + 1  # exactly one change
        await connector.until(lambda: connector.reachable and not connector.problems, 60, "recovered")
        assert connector.label == label
        await connector.until(lambda: desired(connector, "decode") == 3, 30, "the watch resumed")
        # and it keeps following the cluster
        operator.set_service_status(kube_namespace, DGD_NAME, SERVICES["decode"], replicas=3, ready=2)
        await connector.until(lambda: connector.target.counts("decode").ready == 2, 30, "status after recovery")  # type: ignore[union-attr]


async def test_a_watch_that_expired_lists_again_and_misses_nothing(
    kube_cluster: KubeCluster, operator: Operator, kube_namespace: str
) -> None:
    """A watch resumed from a version the API server no longer has (here: its watch cache was rebuilt
    by a restart while other objects changed) gets 410 Gone; the connector lists again."""
    kube_cluster.grant(kube_namespace)
    ready_dgd(operator, kube_namespace)
    first = dynamo_pod(operator, kube_namespace, "decode", 0)
    async with opened(cluster_graph(kube_cluster, kube_namespace)) as connector:
        pods = connector.target.pods  # type: ignore[attr-defined]
        lists = pods.lists
        # other objects change after the pod watch's last event: its version falls behind the store's
        for replicas in (2, 3, 4):
            operator.set_service_status(kube_namespace, DGD_NAME, SERVICES["prefill"], replicas=replicas)
        await asyncio.to_thread(kube_cluster.stop_apiserver)
        await asyncio.to_thread(kube_cluster.start_apiserver)
        second = dynamo_pod(operator, kube_namespace, "decode", 1)
        await connector.until(lambda: pods.expired >= 1 and pods.lists > lists, 60, "410 and a new list")

        def rows() -> set[str]:
            return {r.pod_name or "" for r in connector.target.component_states()["decode"].replicas}

        await connector.until(lambda: rows() == {first, second}, 30, "both pods")
        operator.delete_pod(kube_namespace, first)
        await connector.until(lambda: rows() == {second}, 30, "the watch goes on after the list")
        assert connector.reachable and connector.problems == []
