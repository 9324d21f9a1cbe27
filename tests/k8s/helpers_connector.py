"""What the kubernetes connector's tests share: the example graph pointed at the test cluster, a DGD the
test operator has made Ready, and an opened connector that is always shut down."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml

from planner_tui.config import GraphConfig, load_graph
from planner_tui.config.connector import KubernetesSettings
from planner_tui.connectors.kubernetes.connector import KubernetesConnector
from planner_tui.model.scaling import TargetReplica
from tests.k8s.cluster import REPO_ROOT, KubeCluster
from tests.k8s.operator import Operator

EXAMPLES = REPO_ROOT / "examples" / "k8s"
DGD_MANIFEST = EXAMPLES / "dgd.yaml"
DGD_NAME = "llm"
#: the example DGD's services by the graph's component names
SERVICES = {"frontend": "Frontend", "prefill": "VllmPrefillWorker", "decode": "VllmDecodeWorker"}
SUB_TYPES = {"frontend": "", "prefill": "prefill", "decode": "decode"}


def cluster_graph(
    cluster: KubeCluster,
    namespace: str,
    *,
    example: str = "dgd.toml",
    user: str = "planner",
    metrics: bool = False,
    **connector: Any,
) -> GraphConfig:
    """``examples/k8s/<example>`` logging in to the test cluster as ``user`` in ``namespace``
    (``metrics=False`` drops its Prometheus URL: no Prometheus runs here)."""
    graph = load_graph(EXAMPLES / example)
    settings = graph.connector.model_copy(
        update={"kubeconfig": str(cluster.kubeconfig(user)), "k8s_namespace": namespace, **connector}
    )
    update: dict[str, Any] = {"connector": settings}
    if not metrics:
        update["metrics"] = graph.metrics.model_copy(update={"prometheus_url": None})
    return graph.model_copy(update=update)


def ready_dgd(operator: Operator, namespace: str, *, ready: bool = True, replicas: int = 1) -> dict[str, Any]:
    """The example DGD in ``namespace``, every service at ``replicas`` and stable, Ready (or not)."""
    manifest = yaml.safe_load(DGD_MANIFEST.read_text(encoding="utf-8"))
    for service in manifest["spec"]["services"].values():
        service["replicas"] = replicas
    operator.create_dgd(namespace, manifest)
    for service in SERVICES.values():
        operator.set_service_status(namespace, DGD_NAME, service, replicas=replicas)
    return operator.set_dgd_ready(namespace, DGD_NAME, ready)


def dynamo_pod(operator: Operator, namespace: str, component: str, index: int, running: bool = True) -> str:
    """A pod of the example DGD's service for ``component``; returns its name."""
    pod = operator.create_dynamo_pod(
        namespace, DGD_NAME, SERVICES[component], index, sub_component_type=SUB_TYPES[component], running=running
    )
    return str(pod.metadata.name)


@contextlib.asynccontextmanager
async def opened(graph: GraphConfig, **options: Any) -> AsyncIterator[KubernetesConnector]:
    """An initialized connector on ``graph`` (options: ``observe``, ``watch_timeout_s``), shut down after."""
    settings = graph.connector
    assert isinstance(settings, KubernetesSettings)
    connector = KubernetesConnector(graph, settings, **options)
    await connector.initialize()
    try:
        yield connector
    finally:
        await connector.shutdown()


def rbac_without(tmp_path: Path, resource: str, verb: str) -> Path:
    """``examples/k8s/rbac.yaml`` with ``verb`` removed from the rule on ``resource``."""
    docs = list(yaml.safe_load_all((EXAMPLES / "rbac.yaml").read_text(encoding="utf-8")))
    for doc in docs:
        rules = doc.get("rules") or []
        for rule in rules:
            if resource in rule["resources"]:
                rule["verbs"] = [v for v in rule["verbs"] if v != verb]
        if rules:
            doc["rules"] = [rule for rule in rules if rule["verbs"]]
    path = tmp_path / f"rbac-without-{verb}.yaml"
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return path


def desired(connector: KubernetesConnector, component: str) -> int | None:
    """The component's desired count as the connector's watches have it (None: its object is gone)."""
    counts = connector.target.counts(component)
    return None if counts is None else counts.desired


def to(component: str, replicas: int) -> list[TargetReplica]:
    """One target: ``component`` at ``replicas``."""
    return [TargetReplica(component_name=component, desired_replicas=replicas)]
