"""A DynamoGraphDeployment as the connector's target (``target = "dgd"``).

Components map onto ``spec.services``: a prefill or decode component onto the one service with that
``subComponentType`` (two such services are an error, as upstream), any other by name (exact,
else the one service whose name matches ignoring case). Desired counts come from the service's
scaling adapter (DGDSA ``{dgd}-{service lowercased}``) when it exists, else from the DGD's spec;
updated/ready/available from ``status.services``; replicas from the pods labelled with the DGD
and the service. Scaling patches the adapter's scale subresource and falls back to a merge patch
of ``spec.services.<svc>.replicas`` (conditional on the version just read; a 409 reads again)
when the adapter does not exist (404). A DGD whose ``Ready`` condition is not True is not scaled.
A restart sets a new ``spec.restart.id``; ``status.restart`` reports its phase.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from planner_tui.config.graph import GraphConfig
from planner_tui.connectors.errors import ConnectorError, ScalingRefused
from planner_tui.connectors.kubernetes.client import (
    ADAPTER_PLURAL,
    ADAPTER_SCALE,
    DGD,
    GROUP,
    Resource,
)
from planner_tui.connectors.kubernetes.errors import ApiRefused, status_of
from planner_tui.connectors.kubernetes.pods import label_selector
from planner_tui.connectors.kubernetes.target import ServiceCounts, Target, count, main_container

log = logging.getLogger(__name__)

DGD_LABEL = "nvidia.com/dynamo-graph-deployment-name"
COMPONENT_LABEL = "nvidia.com/dynamo-component"
ADAPTERS = Resource(ADAPTER_PLURAL, GROUP)
CONFLICT_RETRIES = 5
#: restart phases after which nothing is in progress
RESTART_DONE = frozenset({"Completed", "Failed", "Superseded"})


def adapter_name(dgd: str, service: str) -> str:
    """The scaling adapter of a service: ``{dgd}-{service lowercased}``."""
    return f"{dgd}-{service.lower()}"


def services_of(dgd: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """``spec.services`` of a DGD (services that are not tables are left out)."""
    services = (dgd.get("spec") or {}).get("services") or {}
    return {name: spec for name, spec in services.items() if isinstance(spec, Mapping)}


def map_services(graph: GraphConfig, dgd: Mapping[str, Any], where: str) -> dict[str, str]:
    """component -> service; raises ConnectorError listing every component that maps onto no service
    (or onto several) with the services that exist."""
    services = services_of(dgd)
    mapping: dict[str, str] = {}
    problems: list[str] = []
    for name, comp in graph.components.items():
        sub = comp.effective_sub_component_type
        if sub is not None:
            typed = [s for s, spec in services.items() if spec.get("subComponentType") == sub]
            if len(typed) > 1:
                problems.append(f"{name}: services {', '.join(sorted(typed))} all have subComponentType {sub!r}")
                continue
            if typed:
                mapping[name] = typed[0]
                continue
        if name in services:
            mapping[name] = name
            continue
        folded = [s for s in services if s.lower() == name.lower()]
        if len(folded) == 1:
            mapping[name] = folded[0]
            continue
        wanted = f"subComponentType {sub!r} or the name {name!r}" if sub else f"the name {name!r}"
        problems.append(f"{name}: no service has {wanted}")
    taken: dict[str, str] = {}
    for name, service in mapping.items():
        if service in taken:
            problems.append(f"{name} and {taken[service]} both map onto service {service!r}")
        taken[service] = name
    if problems:
        known = ", ".join(
            f"{s} ({spec.get('subComponentType') or spec.get('componentType') or '-'})" for s, spec in services.items()
        )
        raise ConnectorError(
            f"the graph's components do not match the services of {where}: {'; '.join(problems)}. "
            f"Its services: {known or '(none)'}; rename the components or set sub_component_type"
        )
    return mapping


def ready_condition(dgd: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The DGD's ``Ready`` condition, if the operator reported one."""
    for condition in (dgd.get("status") or {}).get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == "Ready":
            return condition
    return None


def not_ready_reason(dgd: Mapping[str, Any]) -> str | None:
    """Why the DGD is not Ready (None when it is)."""
    condition = ready_condition(dgd)
    if condition is None:
        return "the operator has not reported a Ready condition yet"
    if condition.get("status") == "True":
        return None
    detail = condition.get("message") or condition.get("reason") or "no message"
    return f"Ready is {condition.get('status')}: {detail}"


class DgdTarget(Target):
    """A DynamoGraphDeployment ``name`` of the API's namespace."""

    def __init__(self, api: Any, graph: GraphConfig, on_change: Any, watch_timeout_s: int, name: str) -> None:
        super().__init__(api, graph, on_change, watch_timeout_s)
        self.name = name
        self.label = f"dgd/{api.namespace}/{name}"
        self.services: dict[str, str] = {}
        self.last_restart_id: str | None = None

    @property
    def where(self) -> str:
        """``DynamoGraphDeployment ns/name``."""
        return f"DynamoGraphDeployment {self.api.namespace}/{self.name}"

    # -- set up -------------------------------------------------------------------------------------------
    def resolve(self) -> None:
        """Read the DGD (a missing one lists those that exist), map the components, create the watches."""
        try:
            dgd = self.api.get_dgd(self.name)
        except Exception as exc:
            if status_of(exc) != 404:
                raise self.describe("get", DGD, f"{DGD.resource} {self.name}")(exc) from None
            raise ConnectorError(self._missing_message()) from None
        self.services = map_services(self.graph, dgd, self.where)
        self.dgd_watch = self.watch(
            DGD, self.api.list_dgds, self.api.watch_dgds, {"field_selector": f"metadata.name={self.name}"}
        )
        self.adapter_watch = self.watch(ADAPTERS, self.api.list_adapters, self.api.watch_adapters, {}, optional=True)
        self.pods = self.pod_watch(label_selector({DGD_LABEL: self.name}))

    def _missing_message(self) -> str:
        try:
            names = sorted(o["metadata"]["name"] for o in self.api.list_dgds().get("items") or ())
        except Exception as exc:  # the listing is only a hint
            listing = f"(cannot list them: {self.describe('list', DGD, DGD.resource)(exc)})"
        else:
            listing = ", ".join(names) if names else "(none)"
        return (
            f"{self.where} not found; DynamoGraphDeployments in namespace {self.api.namespace}: {listing}. "
            "Set [connector] dgd_name (or $DYN_PARENT_DGD_K8S_NAME) and k8s_namespace"
        )

    # -- reading ------------------------------------------------------------------------------------------
    def dgd(self) -> dict[str, Any] | None:
        """The DGD as the watch has it."""
        return self.dgd_watch.get(self.name)

    def desired(self, dgd: Mapping[str, Any], service: str) -> int:
        """The service's desired count: its adapter's ``spec.replicas``, else the DGD's spec."""
        adapter = self.adapter_watch.get(adapter_name(self.name, service))
        if adapter is not None and isinstance((adapter.get("spec") or {}).get("replicas"), int):
            return count(adapter["spec"]["replicas"])
        spec = services_of(dgd).get(service) or {}
        return count(spec.get("replicas", 1))  # the operator runs one replica when none is given

    def counts(self, component: str) -> ServiceCounts | None:
        """Desired (adapter or spec) and the operator's updated/ready/available of the component's service."""
        dgd = self.dgd()
        service = self.services.get(component)
        if dgd is None or service is None or service not in services_of(dgd):
            return None
        reported = ((dgd.get("status") or {}).get("services") or {}).get(service) or {}
        available = reported.get("availableReplicas")
        return ServiceCounts(
            desired=self.desired(dgd, service),
            updated=count(reported.get("updatedReplicas")),
            ready=count(reported.get("readyReplicas")),
            available=count(available) if available is not None else None,
        )

    def pods_of(self, component: str) -> list[dict[str, Any]]:
        """Pods labelled with the component's service."""
        service = self.services.get(component)
        return [
            pod
            for pod in self.pods.objects().values()
            if ((pod.get("metadata") or {}).get("labels") or {}).get(COMPONENT_LABEL) == service
        ]

    def problems(self) -> list[str]:
        """A missing DGD or service, and a failed restart."""
        dgd = self.dgd()
        if dgd is None:
            return [f"{self.where} is gone (deleted?)"] if self.dgd_watch.synced.is_set() else []
        found = []
        present = services_of(dgd)
        for component, service in self.services.items():
            if service not in present:
                found.append(f"{component}: service {service!r} is no longer in {self.where}")
        restart = (dgd.get("status") or {}).get("restart") or {}
        if restart.get("phase") == "Failed":
            found.append(f"restart {restart.get('observedID')} of {self.where} failed")
        return found

    def refusal(self) -> str | None:
        """Why the DGD must not be scaled now, from the watch."""
        dgd = self.dgd()
        return None if dgd is None else not_ready_reason(dgd)

    def restart_phase(self) -> tuple[str | None, str | None]:
        """``(observedID, phase)`` of ``status.restart``."""
        dgd = self.dgd() or {}
        restart = (dgd.get("status") or {}).get("restart") or {}
        return restart.get("observedID"), restart.get("phase")

    def status_text(self) -> str | None:
        """``restart <id> Restarting`` while a restart is in progress (or was asked for and not seen)."""
        dgd = self.dgd() or {}
        wanted = ((dgd.get("spec") or {}).get("restart") or {}).get("id")
        observed, phase = self.restart_phase()
        if wanted and observed != wanted:
            return f"restart {wanted} Pending"
        if wanted and phase and phase not in RESTART_DONE:
            return f"restart {wanted} {phase}"
        return None

    # -- changing -----------------------------------------------------------------------------------------
    def scale(self, component: str, replicas: int) -> bool:
        """Scale by the adapter, else by a conditional merge patch; refused while the DGD is not Ready."""
        service = self.services[component]
        for _ in range(CONFLICT_RETRIES):
            dgd = self._fresh()
            reason = not_ready_reason(dgd)
            if reason is not None:
                raise ScalingRefused(
                    f"{component}: {self.where} is not Ready ({reason}); scaling waits until the operator reports Ready"
                )
            if service not in services_of(dgd):
                raise ConnectorError(f"{component}: service {service!r} is no longer in {self.where}")
            if self.desired(dgd, service) == replicas:
                return False
            try:
                self.api.patch_adapter_scale(adapter_name(self.name, service), replicas)
                log.info("scaled %s through adapter %s to %d", component, adapter_name(self.name, service), replicas)
                return True
            except Exception as exc:
                if status_of(exc) != 404:
                    raise self.describe("patch", ADAPTER_SCALE, adapter_name(self.name, service))(exc) from None
            body = {
                "metadata": {"resourceVersion": dgd["metadata"]["resourceVersion"]},
                "spec": {"services": {service: {"replicas": replicas}}},
            }
            try:
                self.dgd_watch.put(self.api.patch_dgd(self.name, body))
                log.info("scaled %s by patching %s to %d (no adapter)", component, self.where, replicas)
                return True
            except Exception as exc:
                if status_of(exc) != 409:
                    raise self.describe("patch", DGD, f"{DGD.resource} {self.name}")(exc) from None
                log.info("%s changed while scaling %s (409): reading it again", self.where, component)
        raise ApiRefused(f"{component}: {self.where} kept changing; gave up after {CONFLICT_RETRIES} conflicts", 409)

    def _fresh(self) -> dict[str, Any]:
        try:
            dgd = self.api.get_dgd(self.name)
        except Exception as exc:
            if status_of(exc) == 404:
                raise ConnectorError(self._missing_message()) from None
            raise self.describe("get", DGD, f"{DGD.resource} {self.name}")(exc) from None
        return dgd

    def restart(self, component: str, rolling: bool) -> str:
        """Set a new ``spec.restart.id`` (the operator restarts the graph's pods; strategy by ``rolling``)."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dt%H%M%S")
        restart_id = f"planner-tui-{stamp}-{secrets.token_hex(3)}"
        body = {"spec": {"restart": {"id": restart_id, "strategy": {"type": "Sequential" if rolling else "Parallel"}}}}
        try:
            self.dgd_watch.put(self.api.patch_dgd(self.name, body))
        except Exception as exc:
            raise self.describe("patch", DGD, f"{DGD.resource} {self.name}")(exc) from None
        self.last_restart_id = restart_id
        log.info("restart %s of %s requested (for %s)", restart_id, self.where, component)
        return restart_id

    def log_container(self, pod: Mapping[str, Any]) -> str | None:
        """Dynamo's pods run the component in container ``main``."""
        return main_container(pod)
