"""What the Kubernetes connector scales: a DynamoGraphDeployment, or plain Deployments.

A :class:`Target` maps the graph file's components onto cluster objects, keeps them current with
watches (:mod:`.watch`), turns them into component states, and changes them. Its reading methods
use only the watches' objects (no request); its changing methods block (the connector runs them in
a thread).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from planner_tui.config.graph import GraphConfig
from planner_tui.connectors.errors import ComponentNotFound, ConnectorError
from planner_tui.connectors.kubernetes.client import PODS, KubeApi, Resource
from planner_tui.connectors.kubernetes.errors import explain
from planner_tui.connectors.kubernetes.pods import replicas_of
from planner_tui.connectors.kubernetes.watch import ResourceWatch
from planner_tui.model.components import ComponentState


@dataclass(frozen=True, slots=True)
class ServiceCounts:
    """Replica counts of one service or Deployment: what is asked for and what the cluster reports."""

    desired: int
    updated: int
    ready: int
    available: int | None = None

    @property
    def serving(self) -> int:
        """Replicas serving traffic: available when reported, else ready (as upstream counts them)."""
        return self.ready if self.available is None else self.available

    @property
    def stable(self) -> bool:
        """True when no scale or rollout is in progress: desired == updated == serving."""
        return self.desired == self.updated == self.serving

    def describe(self) -> str:
        """``3 desired, 2 updated, 1 ready, 1 available``."""
        text = f"{self.desired} desired, {self.updated} updated, {self.ready} ready"
        return text if self.available is None else f"{text}, {self.available} available"


def count(value: Any) -> int:
    """A replica count from the API (absent or malformed: 0)."""
    return value if isinstance(value, int) and value >= 0 else 0


class Target(ABC):
    """One kind of scaled object. ``watches`` keep its objects and pods current."""

    #: header text: "dgd/NAMESPACE/NAME" or "deployments/NAMESPACE/SELECTOR"
    label: str

    def __init__(self, api: KubeApi, graph: GraphConfig, on_change: Callable[[], None], watch_timeout_s: int) -> None:
        self.api = api
        self.graph = graph
        self.on_change = on_change
        self.watch_timeout_s = watch_timeout_s
        self.watches: list[ResourceWatch] = []

    def describe(self, verb: str, resource: Resource, what: str) -> Callable[[BaseException], ConnectorError]:
        """A function turning a failure of ``verb`` on ``resource`` into the error a person reads."""
        return lambda exc: explain(exc, verb, resource, what, self.api.server, self.api.namespace)

    def watch(
        self, resource: Resource, list_fn: Any, watch_fn: Any, params: dict[str, Any], **options: Any
    ) -> ResourceWatch:
        """A new watch of ``resource`` (started by the connector), added to :attr:`watches`."""
        watch = ResourceWatch(
            resource,
            list_fn,
            watch_fn,
            params=params,
            on_change=self.on_change,
            describe=self.describe("watch", resource, resource.qualified),
            timeout_s=self.watch_timeout_s,
            **options,
        )
        self.watches.append(watch)
        return watch

    def pod_watch(self, selector: str) -> ResourceWatch:
        """The watch of the target's pods (``selector``: a label selector)."""
        return self.watch(PODS, self.api.list_pods, self.api.watch_pods, {"label_selector": selector})

    def require(self, component: str) -> None:
        """Raise ComponentNotFound unless ``component`` is a component of the graph."""
        if component not in self.graph.components:
            raise ComponentNotFound(component, self.graph.components)

    # -- set up (blocking) ------------------------------------------------------------------------------
    @abstractmethod
    def resolve(self) -> None:
        """Find the target's objects and map every component onto one; raise ConnectorError naming
        what is missing and what exists. Creates the watches."""

    # -- reading (from the watches) ----------------------------------------------------------------------
    @abstractmethod
    def counts(self, component: str) -> ServiceCounts | None:
        """The component's counts, or None when its object is gone."""

    @abstractmethod
    def pods_of(self, component: str) -> list[dict[str, Any]]:
        """The component's pods as the pod watch has them."""

    def component_states(self) -> dict[str, ComponentState]:
        """Every component's state: desired count from the spec, replicas from the pods."""
        states = {}
        for name, comp in self.graph.components.items():
            counts = self.counts(name)
            states[name] = ComponentState(
                spec=comp.to_spec(name),
                desired_replicas=counts.desired if counts is not None else 0,
                replicas=replicas_of(name, self.pods_of(name)),
            )
        return states

    def problems(self) -> list[str]:
        """What is wrong with the target right now (besides the watches' own errors)."""
        return []

    def refusal(self) -> str | None:
        """Why the target must not be scaled now (a DGD not Ready), else None."""
        return None

    def status_text(self) -> str | None:
        """A short state for the header (a restart in progress), else None."""
        return None

    def extra(self, component: str) -> Mapping[str, Any]:
        """More of the component for ``list_components`` (the counts the cluster reports)."""
        counts = self.counts(component)
        if counts is None:
            return {}
        return {
            "updated_replicas": counts.updated,
            "available_replicas": counts.available,
            "reported_ready_replicas": counts.ready,
        }

    # -- changing (blocking) ------------------------------------------------------------------------------
    @abstractmethod
    def scale(self, component: str, replicas: int) -> bool:
        """Set the component's replica count; True when a change was made."""

    @abstractmethod
    def restart(self, component: str, rolling: bool) -> str:
        """Ask the cluster to restart the component's pods; returns what was set (an id, a time)."""

    @abstractmethod
    def log_container(self, pod: Mapping[str, Any]) -> str | None:
        """The container of ``pod`` whose log is the replica's log."""


def main_container(pod: Mapping[str, Any], preferred: str = "main") -> str | None:
    """The ``preferred`` container of a pod when it has one, else its first container."""
    containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or () if c.get("name")]
    if preferred in containers:
        return preferred
    return containers[0] if containers else None
