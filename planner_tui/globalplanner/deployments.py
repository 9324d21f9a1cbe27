"""The deployments a Global Planner scales, each with one cached connector (``k8s_namespace/name``).

Every connector comes from :func:`planner_tui.connectors.factory.open_connector`; this module never
names a backend class.

- ``local`` environment: the deployments are the graph files given at start (``--graph NAME=FILE``),
  all in the service's Kubernetes namespace (``$POD_NAMESPACE``, default ``default``). The service
  starts each graph (or adopts it when it is already running) and is the only process that changes
  it; a planner whose graph file says ``[connector] kind = "global"`` only observes it. A deployment
  belongs to its graph's namespace: only that namespace's planner may scale it.
- ``kubernetes`` environment: a DynamoGraphDeployment is opened on its first request and cached; a
  ``--graph NAME=FILE`` describes its components (limits, GPUs per replica) and how to log in to the
  cluster (its kubernetes ``[connector]``'s kubeconfig, context, in_cluster), else it gets a prefill
  and a decode component and the default login ($KUBECONFIG, ~/.kube/config).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Literal

from planner_tui.config.choices import MAX_REPLICAS
from planner_tui.config.connector import GlobalSettings, KubernetesSettings
from planner_tui.config.graph import GraphConfig
from planner_tui.config.loader import validate_graph
from planner_tui.connectors.base import PlannerConnector
from planner_tui.runtime.ownership import GraphLease, GraphOwnedError

log = logging.getLogger(__name__)

Environment = Literal["kubernetes", "local"]


#: the lease a Global Planner holds on each local graph it runs, ``<namespace>.global-planner``: one
#: service per graph (even within one process). The local connector it opens holds the graph's writer
#: lease besides (``<namespace>.executor``, :mod:`planner_tui.connectors.local.writer`), which keeps any
#: other process (a ``plan`` with a local connector) from changing the graph.
EXECUTOR_SUFFIX = ".global-planner"


class DeploymentBusy(RuntimeError):
    """A local graph is already run by another Global Planner."""


class UnknownDeployment(LookupError):
    """No deployment of that name is managed here; the message lists those that are."""


def execution_graph(graph: GraphConfig) -> GraphConfig:
    """``graph`` as the service runs it: a delegating graph's ``execution`` connector, else its own."""
    if isinstance(graph.connector, GlobalSettings):
        return graph.model_copy(update={"connector": graph.connector.execution})
    return graph


def kubernetes_graph(name: str, k8s_namespace: str, described: GraphConfig | None) -> GraphConfig:
    """The graph of DGD ``name`` in ``k8s_namespace``: ``described``'s components, or prefill + decode."""
    settings = KubernetesSettings(kind="kubernetes", target="dgd", dgd_name=name, k8s_namespace=k8s_namespace)
    if described is not None:
        own = execution_graph(described).connector
        if isinstance(own, KubernetesSettings):  # keep how it logs in (kubeconfig, context, in-cluster)
            settings = own.model_copy(update={"target": "dgd", "dgd_name": name, "k8s_namespace": k8s_namespace})
        return described.model_copy(update={"connector": settings})
    components = {
        role: {"role": role, "min_replicas": 0, "max_replicas": MAX_REPLICAS, "initial_replicas": 0}
        for role in ("prefill", "decode")
    }
    return validate_graph(
        {"namespace": name, "components": components, "connector": settings.model_dump(mode="json")},
        f"deployment {k8s_namespace}/{name}",
    )


@dataclass
class Deployment:
    """One managed deployment: its key, its graph and its (cached) connector."""

    name: str
    k8s_namespace: str
    graph: GraphConfig
    connector: PlannerConnector
    #: the caller namespace allowed to scale it (None: any authorized caller)
    owner: str | None = None
    started_here: bool = field(default=True)

    @property
    def key(self) -> str:
        """``k8s_namespace/name``."""
        return f"{self.k8s_namespace}/{self.name}"


class DeploymentRegistry:
    """Opens, caches and closes the connectors of the managed deployments."""

    def __init__(self, environment: Environment, pod_namespace: str, graphs: dict[str, GraphConfig]) -> None:
        self.environment = environment
        self.pod_namespace = pod_namespace
        self.graphs = dict(graphs)
        self._deployments: dict[str, Deployment] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        self._leases: list[GraphLease] = []

    @property
    def deployments(self) -> list[Deployment]:
        """Every deployment opened so far, by key."""
        return [self._deployments[k] for k in sorted(self._deployments)]

    async def start(self) -> None:
        """Local environment: start (or adopt) every graph; a failure stops those started before it.

        Each local graph's service lease (``<namespace>.global-planner``, the ownership lease's
        mechanism) is held for the service's life, so a second Global Planner never runs the same graph;
        the local connector holds the graph's writer lease, so no other process changes it.
        """
        if self.environment != "local":
            return
        try:
            for name, graph in self.graphs.items():
                try:
                    self._leases.append(GraphLease.try_take(f"{graph.namespace}{EXECUTOR_SUFFIX}"))
                except GraphOwnedError as owned:
                    raise DeploymentBusy(
                        f"graph {graph.namespace} (--graph {name}) is already run by another Global Planner: "
                        f"{owned.owner.describe()}; stop it first"
                    ) from None
                await self._open(name, self.pod_namespace, execution_graph(graph), owner=graph.namespace)
        except BaseException:
            await self.close(stop_graphs=True)
            raise

    async def _open(self, name: str, k8s_namespace: str, graph: GraphConfig, owner: str | None) -> Deployment:
        from planner_tui.connectors.factory import open_connector

        connector = await open_connector(graph)
        deployment = Deployment(name, k8s_namespace, graph, connector, owner)
        self._deployments[deployment.key] = deployment
        log.info("managing deployment %s (%s)", deployment.key, connector.label)
        return deployment

    async def get(self, k8s_namespace: str, name: str) -> Deployment:
        """The deployment ``k8s_namespace/name``, opened on first use in the kubernetes environment."""
        key = f"{k8s_namespace}/{name}"
        found = self._deployments.get(key)
        if found is not None:
            return found
        if self.environment == "local":
            known = ", ".join(self._deployments) or "(none)"
            raise UnknownDeployment(
                f"no deployment {key} here; this Global Planner runs {known} (start it with --graph {name}=FILE)"
            )
        lock = self._opening.setdefault(key, asyncio.Lock())
        async with lock:  # two first requests open one connector
            found = self._deployments.get(key)
            if found is not None:
                return found
            graph = kubernetes_graph(name, k8s_namespace, self.graphs.get(name))
            return await self._open(name, k8s_namespace, graph, owner=None)

    async def close(self, stop_graphs: bool = True, timeout: float = 60.0) -> None:
        """Close every connector; ``stop_graphs`` stops the local graphs this service runs (bounded)."""
        deployments, self._deployments = list(self._deployments.values()), {}
        leases, self._leases = self._leases, []

        async def close_one(deployment: Deployment) -> None:
            try:
                await asyncio.wait_for(deployment.connector.shutdown(stop_graph=stop_graphs), timeout)
            except TimeoutError:
                log.error("deployment %s did not shut down within %.0f s", deployment.key, timeout)
            except Exception as exc:
                log.error("closing deployment %s failed: %s", deployment.key, exc)

        try:
            with contextlib.suppress(Exception):
                await asyncio.gather(*(close_one(d) for d in deployments))
        finally:
            for lease in leases:  # last: a new service never meets a graph still stopping
                lease.release()
