"""Scaling a DynamoGraphDeployment and plain Deployments through a real API server, as user ``planner``
with only the example Role (examples/k8s/rbac.yaml)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from planner_tui.connectors.errors import ComponentNotFound, ConnectorError, ScalingRefused
from planner_tui.connectors.factory import open_connector
from planner_tui.model.scaling import TargetReplica
from tests.k8s.cluster import KubeCluster
from tests.k8s.helpers_connector import DGD_NAME, SERVICES, cluster_graph, desired, opened, ready_dgd, to
from tests.k8s.operator import Operator, adapter_name


@pytest.fixture
def granted(kube_cluster: KubeCluster, kube_namespace: str) -> str:
    """The test namespace with the example Role bound to user ``planner``."""
    kube_cluster.grant(kube_namespace)
    return kube_namespace


async def test_the_factory_opens_the_example_graph_on_the_cluster(
    kube_cluster: KubeCluster, operator: Operator, granted: str
) -> None:
    ready_dgd(operator, granted, replicas=2)
    connector = await open_connector(cluster_graph(kube_cluster, granted))
    try:
        assert connector.kind == "kubernetes"
        assert connector.label == f"kubernetes dgd/{granted}/{DGD_NAME}"
        assert connector.reachable and connector.problems == []
        states = await connector.get_component_states()
        assert {name: s.desired_replicas for name, s in states.items()} == {"frontend": 2, "prefill": 2, "decode": 2}
        assert states["decode"].spec.sub_component_type == "decode"
    finally:
        await connector.shutdown()


async def test_scale_goes_through_the_scaling_adapter_when_there_is_one(
    kube_cluster: KubeCluster, operator: Operator, granted: str
) -> None:
    ready_dgd(operator, granted)
    operator.create_adapter(granted, DGD_NAME, SERVICES["decode"])
    async with opened(cluster_graph(kube_cluster, granted)) as connector:
        generation = operator.get_dgd(granted, DGD_NAME)["metadata"]["generation"]
        assert await connector.scale_component("decode", 3) is True
        adapter = operator.get_adapter(granted, adapter_name(DGD_NAME, SERVICES["decode"]))
        assert adapter["spec"]["replicas"] == 3
        dgd = operator.get_dgd(granted, DGD_NAME)
        # the DGD itself is the operator's to change (from the adapter): not patched by the planner
        assert dgd["metadata"]["generation"] == generation
        assert dgd["spec"]["services"][SERVICES["decode"]]["replicas"] == 1
        await connector.until(lambda: desired(connector, "decode") == 3, 30, "adapter's count")
        assert await connector.get_component_replicas("decode") == 3
        assert await connector.scale_component("decode", 3) is False  # nothing to change


async def test_scale_merge_patches_the_dgd_when_the_adapter_is_absent(
    kube_cluster: KubeCluster, operator: Operator, granted: str
) -> None:
    ready_dgd(operator, granted)
    async with opened(cluster_graph(kube_cluster, granted)) as connector:
        before = operator.get_dgd(granted, DGD_NAME)
        assert await connector.scale_component("prefill", 4) is True
        after = operator.get_dgd(granted, DGD_NAME)
        assert after["spec"]["services"][SERVICES["prefill"]]["replicas"] == 4
        assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1  # applied once
        # the other services and the rest of the spec are untouched by the merge patch
        assert after["spec"]["services"][SERVICES["decode"]] == before["spec"]["services"][SERVICES["decode"]]
        assert after["spec"]["backendFramework"] == "vllm"
        assert await connector.get_component_replicas("prefill") == 4


async def test_targets_by_sub_component_type_and_bounds(
    kube_cluster: KubeCluster, operator: Operator, granted: str
) -> None:
    ready_dgd(operator, granted)
    async with opened(cluster_graph(kube_cluster, granted)) as connector:
        await connector.set_component_replicas([TargetReplica(sub_component_type="decode", desired_replicas=2)])
        assert operator.get_dgd(granted, DGD_NAME)["spec"]["services"][SERVICES["decode"]]["replicas"] == 2
        with pytest.raises(ScalingRefused, match="above max_replicas = 4"):
            await connector.set_component_replicas(
                [
                    TargetReplica(component_name="prefill", desired_replicas=2),
                    TargetReplica(component_name="decode", desired_replicas=9),
                ]
            )
        # one refused target changes nothing at all
        assert operator.get_dgd(granted, DGD_NAME)["spec"]["services"][SERVICES["prefill"]]["replicas"] == 1
        with pytest.raises(ComponentNotFound, match="known components: decode, frontend, prefill"):
            await connector.scale_component("router", 1)


async def test_a_dgd_that_is_not_ready_is_not_scaled_and_says_so(
    kube_cluster: KubeCluster, operator: Operator, granted: str
) -> None:
    ready_dgd(operator, granted)
    async with opened(cluster_graph(kube_cluster, granted)) as connector:
        operator.set_dgd_ready(granted, DGD_NAME, False, message="VllmDecodeWorker: 0/1 pods ready")
        await connector.until(lambda: bool(connector.problems), 30, "not Ready shown")
        assert any("not Ready" in p and "0/1 pods ready" in p for p in connector.problems)
        with pytest.raises(ScalingRefused, match=r"not Ready \(Ready is False: VllmDecodeWorker: 0/1 pods ready\)"):
            await connector.set_component_replicas(to("decode", 2))
        # scale_component reads the DGD afresh and refuses as well
        with pytest.raises(ScalingRefused, match="is not Ready"):
            await connector.scale_component("decode", 2)
        assert operator.get_dgd(granted, DGD_NAME)["spec"]["services"][SERVICES["decode"]]["replicas"] == 1
        operator.set_dgd_ready(granted, DGD_NAME, True)
        await connector.until(lambda: not connector.problems, 30, "Ready again")
        assert await connector.scale_component("decode", 2) is True


async def test_blocking_scale_waits_for_the_operator_and_reports_progress(
    kube_cluster: KubeCluster, operator: Operator, granted: str
) -> None:
    ready_dgd(operator, granted)
    async with opened(cluster_graph(kube_cluster, granted)) as connector:
        progress: list[str] = []
        decode = SERVICES["decode"]
        apply = asyncio.ensure_future(connector.set_component_replicas(to("decode", 3), blocking=True))
        await connector.until(lambda: desired(connector, "decode") == 3, 30, "spec changed")
        await connector.until(lambda: "waiting for decode" in connector.label, 30, "progress in the header")
        assert "decode: 3 desired, 1 updated, 1 ready, 1 available" in connector.label
        assert not apply.done()
        operator.set_service_status(granted, DGD_NAME, decode, replicas=3, updated=3, ready=2)
        await connector.until(lambda: "2 ready" in connector.label, 30, "progress follows the status")
        assert not apply.done()
        operator.set_service_status(granted, DGD_NAME, decode, replicas=3, updated=3, ready=3)
        await asyncio.wait_for(apply, 10)
        assert "waiting" not in connector.label

        # wait_stable reports each change of progress to a callback as well
        connector.settings = connector.settings.model_copy(update={"scale_timeout_s": 60})
        operator.set_service_status(granted, DGD_NAME, decode, replicas=3, updated=3, ready=3, available=2)
        await connector.until(lambda: connector.target.counts("decode").available == 2, 30, "one not available")  # type: ignore[union-attr]
        waiter = asyncio.ensure_future(connector.wait_stable(["decode"], on_progress=progress.append))
        await connector.until(lambda: bool(progress), 30, "a progress report")
        operator.set_service_status(granted, DGD_NAME, decode, replicas=3, updated=3, ready=3, available=3)
        await asyncio.wait_for(waiter, 10)
        assert "3 desired, 3 updated, 3 ready, 2 available" in progress[0]


async def test_blocking_scale_gives_up_at_its_deadline_naming_the_counts(
    kube_cluster: KubeCluster, operator: Operator, granted: str
) -> None:
    ready_dgd(operator, granted)
    graph = cluster_graph(kube_cluster, granted, scale_timeout_s=1.5)
    async with opened(graph) as connector:
        with pytest.raises(ConnectorError, match=r"not stable in time.*decode: 2 desired, 1 updated, 1 ready"):
            await connector.set_component_replicas(to("decode", 2), blocking=True)
        # the change itself was applied; only the wait gave up
        assert operator.get_dgd(granted, DGD_NAME)["spec"]["services"][SERVICES["decode"]]["replicas"] == 2


async def test_a_conflicting_change_is_retried_on_a_fresh_read(
    kube_cluster: KubeCluster, operator: Operator, granted: str
) -> None:
    """A merge patch carries the version it was decided on; a change in between (409) is read again."""
    ready_dgd(operator, granted)
    async with opened(cluster_graph(kube_cluster, granted)) as connector:
        api = connector.api
        assert api is not None
        real_get = api.get_dgd
        interfered: list[dict[str, Any]] = []

        def get_then_someone_writes(name: str) -> dict[str, Any]:
            fresh = real_get(name)
            if not interfered:  # between the planner's read and its patch, a person edits the DGD
                interfered.append(operator.patch_dgd(granted, DGD_NAME, {"metadata": {"labels": {"edited": "yes"}}}))
            return fresh

        api.get_dgd = get_then_someone_writes  # type: ignore[method-assign]
        assert await connector.scale_component("decode", 2) is True
        dgd = operator.get_dgd(granted, DGD_NAME)
        assert interfered and dgd["metadata"]["labels"] == {"edited": "yes"}
        assert dgd["spec"]["services"][SERVICES["decode"]]["replicas"] == 2


async def test_deployments_scale_and_restart_through_their_subresource(
    kube_cluster: KubeCluster, operator: Operator, granted: str
) -> None:
    labels = {"app.kubernetes.io/part-of": "llm"}
    for name in ("frontend", "prefill", "decode"):
        operator.create_deployment(granted, name, replicas=1, labels={**labels, "app": name})
        operator.set_deployment_status(granted, name)
    operator.create_deployment(granted, "unrelated", labels={"app": "unrelated"})
    graph = cluster_graph(kube_cluster, granted, example="deployments.toml")
    async with opened(graph) as connector:
        assert connector.label == f"kubernetes deployments/{granted}/app.kubernetes.io/part-of=llm"
        assert await connector.scale_component("decode", 3) is True
        assert operator.apps.read_namespaced_deployment("decode", granted).spec.replicas == 3
        await connector.until(lambda: desired(connector, "decode") == 3, 30, "spec seen")
        apply = asyncio.ensure_future(connector.set_component_replicas(to("decode", 3), blocking=True))
        await connector.until(lambda: "waiting for decode" in connector.label, 30, "progress")
        operator.set_deployment_status(granted, "decode")
        await asyncio.wait_for(apply, 10)
        assert await connector.restart_component("prefill") is True
        deployment = operator.apps.read_namespaced_deployment("prefill", granted).to_dict()
        assert "kubectl.kubernetes.io/restartedAt" in deployment["spec"]["template"]["metadata"]["annotations"]


async def test_a_deployment_missing_for_a_component_is_named(
    kube_cluster: KubeCluster, operator: Operator, granted: str
) -> None:
    operator.create_deployment(granted, "frontend", labels={"app.kubernetes.io/part-of": "llm", "app": "frontend"})
    graph = cluster_graph(kube_cluster, granted, example="deployments.toml")
    with pytest.raises(ConnectorError, match=r"no Deployment for prefill, decode .*: frontend"):
        async with opened(graph):
            pass
