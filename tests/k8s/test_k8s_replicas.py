"""Pods as the dashboard's replica rows, a DGD restart and its phase, and errors a person can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner_tui.connectors.errors import ConnectorError
from planner_tui.connectors.kubernetes.errors import AccessDenied
from planner_tui.model.replicas import Phase
from tests.k8s.cluster import KubeCluster
from tests.k8s.helpers_connector import DGD_NAME, SERVICES, cluster_graph, dynamo_pod, opened, rbac_without, ready_dgd
from tests.k8s.operator import Operator

SCHEDULER_MESSAGE = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


async def test_pods_are_replica_rows_with_their_reasons(
    kube_cluster: KubeCluster, operator: Operator, kube_namespace: str
) -> None:
    kube_cluster.grant(kube_namespace)
    ready_dgd(operator, kube_namespace, replicas=3)
    ready = dynamo_pod(operator, kube_namespace, "decode", 0)
    crashing = dynamo_pod(operator, kube_namespace, "decode", 1)
    operator.set_pod_status(kube_namespace, crashing, restarts=4, waiting_reason="CrashLoopBackOff")
    pending = operator.create_pod(
        kube_namespace,
        "llm-vllmdecodeworker-2",
        {"nvidia.com/dynamo-graph-deployment-name": DGD_NAME, "nvidia.com/dynamo-component": SERVICES["decode"]},
        node=None,
    ).metadata.name
    operator.set_pod_status(kube_namespace, pending, unschedulable_message=SCHEDULER_MESSAGE)
    dynamo_pod(operator, kube_namespace, "prefill", 0)
    async with opened(cluster_graph(kube_cluster, kube_namespace)) as connector:
        rows = {r.pod_name: r for r in (await connector.get_component_states())["decode"].replicas}
        assert set(rows) == {ready, crashing, pending}
        assert rows[ready].phase is Phase.READY and rows[ready].node == "node-1" and rows[ready].reason is None
        assert rows[ready].started_at is not None
        assert rows[crashing].phase is Phase.CRASHED
        assert rows[crashing].restarts == 4
        assert (rows[crashing].reason or "").startswith("CrashLoopBackOff")
        assert rows[pending].phase is Phase.STARTING and rows[pending].node is None
        assert rows[pending].reason == f"Unschedulable: {SCHEDULER_MESSAGE}"
        states = await connector.get_component_states()
        assert (states["decode"].desired_replicas, states["decode"].ready_replicas) == (3, 1)
        assert [r.pod_name for r in states["prefill"].replicas] == ["llm-vllmprefillworker-0"]
        listing = {row["name"]: row for row in await connector.list_components()}
        assert listing["decode"]["updated_replicas"] == 3
        assert {r["pod"]: r["node"] for r in listing["decode"]["replicas"]}[ready] == "node-1"

        # the kubelet recovers the crashing container; the scheduler's pod goes away
        operator.set_pod_status(kube_namespace, crashing, restarts=5)
        operator.delete_pod(kube_namespace, pending)

        async def rows_now() -> dict[str, Phase]:
            return {r.pod_name or "": r.phase for r in (await connector.get_component_states())["decode"].replicas}

        seen: dict[str, Phase] = {}

        def recovered() -> bool:
            replicas = connector.target.component_states()["decode"].replicas
            seen.clear()
            seen.update({r.pod_name or "": r.phase for r in replicas})
            return seen == {ready: Phase.READY, crashing: Phase.READY}

        await connector.until(recovered, 30, "rows follow the pods")
        assert await rows_now() == seen


async def test_restart_sets_a_new_id_and_follows_its_phase(
    kube_cluster: KubeCluster, operator: Operator, kube_namespace: str
) -> None:
    kube_cluster.grant(kube_namespace)
    ready_dgd(operator, kube_namespace)
    async with opened(cluster_graph(kube_cluster, kube_namespace)) as connector:
        assert await connector.restart_component("decode", rolling=True) is True
        restart = operator.get_dgd(kube_namespace, DGD_NAME)["spec"]["restart"]
        assert restart["strategy"] == {"type": "Sequential"}
        first = restart["id"]
        await connector.until(lambda: f"restart {first} Pending" in connector.label, 30, "asked for")
        operator.set_restart_status(kube_namespace, DGD_NAME, first, "Restarting", in_progress=[SERVICES["decode"]])
        await connector.until(lambda: f"restart {first} Restarting" in connector.label, 30, "in progress")
        operator.set_restart_status(kube_namespace, DGD_NAME, first, "Completed")
        await connector.until(lambda: "restart" not in connector.label, 30, "done")

        assert await connector.restart_component("decode", rolling=False) is True
        restart = operator.get_dgd(kube_namespace, DGD_NAME)["spec"]["restart"]
        assert restart["id"] != first and restart["strategy"] == {"type": "Parallel"}
        operator.set_restart_status(kube_namespace, DGD_NAME, restart["id"], "Failed")
        await connector.until(lambda: bool(connector.problems), 30, "failure shown")
        assert connector.problems == [f"restart {restart['id']} of DynamoGraphDeployment {kube_namespace}/llm failed"]


async def test_an_observer_changes_nothing(kube_cluster: KubeCluster, operator: Operator, kube_namespace: str) -> None:
    kube_cluster.grant(kube_namespace)
    ready_dgd(operator, kube_namespace)
    async with opened(cluster_graph(kube_cluster, kube_namespace), observe=True) as connector:
        with pytest.raises(ConnectorError, match="observes only"):
            await connector.scale_component("decode", 2)
        with pytest.raises(ConnectorError, match="observes only"):
            await connector.restart_component("decode")
    assert "restart" not in operator.get_dgd(kube_namespace, DGD_NAME)["spec"]


async def test_rbac_denial_names_the_verb_and_the_resource(
    kube_cluster: KubeCluster, operator: Operator, kube_namespace: str, tmp_path: Path
) -> None:
    kube_cluster.grant(
        kube_namespace, rbac=rbac_without(tmp_path, "dynamographdeploymentscalingadapters/scale", "patch")
    )
    ready_dgd(operator, kube_namespace)
    operator.create_adapter(kube_namespace, DGD_NAME, SERVICES["decode"])
    async with opened(cluster_graph(kube_cluster, kube_namespace)) as connector:
        with pytest.raises(AccessDenied) as denied:
            await connector.scale_component("decode", 2)
    message = str(denied.value)
    assert "access denied" in message and "'patch'" in message
    assert "'dynamographdeploymentscalingadapters/scale.nvidia.com'" in message
    assert 'User "planner" cannot patch' in message  # the API server's own words
    assert "examples/k8s/rbac.yaml" in message
    assert operator.get_adapter(kube_namespace, "llm-vllmdecodeworker")["spec"]["replicas"] == 1


async def test_a_user_without_any_grant_is_told_what_to_grant(
    kube_cluster: KubeCluster, operator: Operator, kube_namespace: str
) -> None:
    ready_dgd(operator, kube_namespace)
    with pytest.raises(AccessDenied, match=r"refused to get dynamographdeployments.nvidia.com .*'get'"):
        async with opened(cluster_graph(kube_cluster, kube_namespace, user="nobody")):
            pass


async def test_a_missing_dgd_lists_the_ones_that_exist(
    kube_cluster: KubeCluster, operator: Operator, kube_namespace: str
) -> None:
    kube_cluster.grant(kube_namespace)
    ready_dgd(operator, kube_namespace)
    graph = cluster_graph(kube_cluster, kube_namespace, dgd_name="lmm")
    with pytest.raises(ConnectorError, match=rf"DynamoGraphDeployment {kube_namespace}/lmm not found; .*: llm\. Set"):
        async with opened(graph):
            pass


async def test_components_that_match_no_service_are_named_with_the_services(
    kube_cluster: KubeCluster, operator: Operator, kube_namespace: str
) -> None:
    kube_cluster.grant(kube_namespace)
    ready_dgd(operator, kube_namespace)
    operator.patch_dgd(kube_namespace, DGD_NAME, {"spec": {"services": {"Other": {"subComponentType": "decode"}}}})
    with pytest.raises(ConnectorError, match=r"decode: services Other, VllmDecodeWorker all have subComponentType"):
        async with opened(cluster_graph(kube_cluster, kube_namespace)):
            pass
