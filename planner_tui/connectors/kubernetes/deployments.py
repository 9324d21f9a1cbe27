"""Plain ``apps/v1`` Deployments as the connector's target (``target = "deployments"``).

The Deployments matching ``selector`` (a label selector) are watched, one component per Deployment
of the same name; their pods are the pods matching the same selector, each given to the Deployment
whose ``spec.selector.matchLabels`` it carries (so the pod template must carry the selector's
labels). Scaling goes through the Deployment's scale subresource; a restart sets the
``kubectl.kubernetes.io/restartedAt`` annotation of the pod template, as ``kubectl rollout restart``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from planner_tui.config.graph import GraphConfig
from planner_tui.connectors.errors import ConnectorError
from planner_tui.connectors.kubernetes.client import DEPLOYMENT_SCALE, DEPLOYMENTS
from planner_tui.connectors.kubernetes.pods import matches
from planner_tui.connectors.kubernetes.target import ServiceCounts, Target, count, main_container

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class DeploymentsTarget(Target):
    """The Deployments of the API's namespace chosen by ``selector``."""

    def __init__(self, api: Any, graph: GraphConfig, on_change: Any, watch_timeout_s: int, selector: str) -> None:
        super().__init__(api, graph, on_change, watch_timeout_s)
        self.selector = selector
        self.label = f"deployments/{api.namespace}/{selector}"

    def resolve(self) -> None:
        """Check that every component has a Deployment of its name; create the watches."""
        try:
            found = self.api.list_deployments(label_selector=self.selector).get("items") or []
        except Exception as exc:
            raise self.describe("list", DEPLOYMENTS, f"deployments matching {self.selector}")(exc) from None
        names = sorted(d["metadata"]["name"] for d in found)
        missing = [name for name in self.graph.components if name not in names]
        if missing:
            raise ConnectorError(
                f"no Deployment for {', '.join(missing)} among the Deployments matching {self.selector!r} in "
                f"namespace {self.api.namespace}: {', '.join(names) or '(none)'}; each component needs a "
                "Deployment of its name carrying the selector's labels"
            )
        self.deployments = self.watch(
            DEPLOYMENTS, self.api.list_deployments, self.api.watch_deployments, {"label_selector": self.selector}
        )
        self.pods = self.pod_watch(self.selector)

    def counts(self, component: str) -> ServiceCounts | None:
        """``spec.replicas`` and the Deployment's updated/ready/available (updated counts only once the
        controller observed the latest generation)."""
        deployment = self.deployments.get(component)
        if deployment is None:
            return None
        spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
        observed = count(status.get("observedGeneration")) >= count(
            (deployment.get("metadata") or {}).get("generation")
        )
        return ServiceCounts(
            desired=count(spec.get("replicas", 1)),
            updated=count(status.get("updatedReplicas")) if observed else 0,
            ready=count(status.get("readyReplicas")),
            available=count(status.get("availableReplicas")),
        )

    def pods_of(self, component: str) -> list[dict[str, Any]]:
        """Pods carrying the Deployment's ``matchLabels``."""
        deployment = self.deployments.get(component)
        wanted = ((deployment or {}).get("spec") or {}).get("selector", {}).get("matchLabels") or {}
        if not wanted:
            return []
        return [p for p in self.pods.objects().values() if matches(wanted, (p.get("metadata") or {}).get("labels"))]

    def problems(self) -> list[str]:
        """Deployments that are gone."""
        if not self.deployments.synced.is_set():
            return []
        return [
            f"{name}: Deployment {self.api.namespace}/{name} is gone (deleted, or its labels no longer match "
            f"{self.selector!r})"
            for name in self.graph.components
            if self.deployments.get(name) is None
        ]

    def scale(self, component: str, replicas: int) -> bool:
        """Patch the Deployment's scale subresource."""
        counts = self.counts(component)
        if counts is not None and counts.desired == replicas:
            return False
        try:
            self.api.patch_deployment_scale(component, replicas)
        except Exception as exc:
            raise self.describe("patch", DEPLOYMENT_SCALE, f"deployment {component}")(exc) from None
        return True

    def restart(self, component: str, rolling: bool) -> str:
        """Set the rollout-restart annotation (the Deployment's strategy decides the order)."""
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        try:
            self.api.patch_deployment(component, body)
        except Exception as exc:
            raise self.describe("patch", DEPLOYMENTS, f"deployment {component}")(exc) from None
        return stamp

    def log_container(self, pod: Mapping[str, Any]) -> str | None:
        """The pod's first container (or one named ``main``)."""
        return main_container(pod)
