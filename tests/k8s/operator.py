"""The test plays Dynamo's operator (and the controllers a real cluster has) against a real API server.

The harness cluster runs no controllers: a scaled DGD changes only its ``spec``. :class:`Operator` does
by hand what the operator, the scheduler, the kubelet and the Deployment controller would do, through
the same API a connector reads: it writes the DGD's ``status`` (per-service replica counts, the Ready
condition, the restart phase) through the status subresource, creates scaling adapters, and creates pods
and Deployments and writes their status.

Pods carry Dynamo's labels when made with :meth:`Operator.create_dynamo_pod`. Every call is synchronous
(the ``kubernetes`` client) and takes a few milliseconds.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from tests.k8s.cluster import KubeCluster

GROUP = "nvidia.com"
VERSION = "v1alpha1"
DGD_PLURAL = "dynamographdeployments"
DGDSA_PLURAL = "dynamographdeploymentscalingadapters"
DEFAULT_IMAGE = "nvcr.io/nvidia/ai-dynamo/vllm-runtime:test"
#: the labels Dynamo's operator puts on a service's pods (REFERENCE.md section 5)
LABEL_DGD = "nvidia.com/dynamo-graph-deployment-name"
LABEL_COMPONENT = "nvidia.com/dynamo-component"
LABEL_NAMESPACE = "nvidia.com/dynamo-namespace"
LABEL_COMPONENT_TYPE = "nvidia.com/dynamo-component-type"
LABEL_SUB_COMPONENT_TYPE = "nvidia.com/dynamo-sub-component-type"
_CONFLICT_RETRIES = 5


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def adapter_name(dgd: str, service: str) -> str:
    """The scaling adapter of a DGD service: ``{dgd}-{service lowercased}``."""
    return f"{dgd}-{service.lower()}"


def dynamo_labels(
    dgd: str, service: str, component_type: str = "worker", sub_component_type: str = ""
) -> dict[str, str]:
    """The labels the operator gives a DGD service's pods."""
    labels = {
        LABEL_DGD: dgd,
        LABEL_COMPONENT: service,
        LABEL_COMPONENT_TYPE: component_type,
    }
    if sub_component_type:
        labels[LABEL_SUB_COMPONENT_TYPE] = sub_component_type
    return labels


class Operator:
    """Writes what the absent controllers would, as the cluster's admin."""

    def __init__(self, cluster: KubeCluster, client: ApiClient | None = None) -> None:
        from kubernetes import client as kube

        self.cluster = cluster
        self.api_client = client or cluster.admin_client()
        self.core = kube.CoreV1Api(self.api_client)
        self.apps = kube.AppsV1Api(self.api_client)
        self.custom = kube.CustomObjectsApi(self.api_client)
        self._kube = kube

    # --- namespaces -----------------------------------------------------------------------------------

    def create_namespace(self, name: str, labels: Mapping[str, str] | None = None) -> str:
        """Create a namespace (an existing one is fine); returns its name."""
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}}
        try:
            self.core.create_namespace(body)
        except self._kube.ApiException as exc:
            if exc.status != 409:
                raise
        return name

    def delete_namespace(self, name: str) -> None:
        """Ask for the namespace's deletion (without a namespace controller it stays Terminating)."""
        try:
            self.core.delete_namespace(name)
        except self._kube.ApiException as exc:
            if exc.status != 404:
                raise

    # --- DynamoGraphDeployments -----------------------------------------------------------------------

    def create_dgd(self, namespace: str, manifest: Mapping[str, Any] | str | Path) -> dict[str, Any]:
        """Create a DGD from a dict, a YAML string or a YAML file; returns the stored object.

        Errors are the API server's (``kubernetes.client.ApiException``; 422 for a schema violation).
        """
        body = _manifest(manifest)
        body.setdefault("apiVersion", f"{GROUP}/{VERSION}")
        body.setdefault("kind", "DynamoGraphDeployment")
        body.setdefault("metadata", {})["namespace"] = namespace
        return dict(self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, DGD_PLURAL, body))

    def get_dgd(self, namespace: str, name: str) -> dict[str, Any]:
        """The DGD as stored."""
        return dict(self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, DGD_PLURAL, name))

    def patch_dgd(self, namespace: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of the DGD (spec or metadata), as a person or the operator would write it."""
        return dict(
            self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, DGD_PLURAL, name, dict(patch))
        )

    def delete_dgd(self, namespace: str, name: str) -> None:
        """Delete a DGD."""
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, DGD_PLURAL, name)

    def set_service_status(
        self,
        namespace: str,
        dgd: str,
        service: str,
        replicas: int,
        updated: int | None = None,
        ready: int | None = None,
        available: int | None = None,
        kind: str = "Deployment",
    ) -> dict[str, Any]:
        """Write ``status.services[service]``: ``updated`` defaults to ``replicas``, ``ready`` to
        ``updated``, ``available`` to ``ready`` (all pods up). Returns the DGD."""
        updated = replicas if updated is None else updated
        ready = updated if ready is None else ready
        available = ready if available is None else available
        entry = {
            "componentKind": kind,
            "componentName": adapter_name(dgd, service),
            "replicas": replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
        }
        return self._patch_dgd_status(namespace, dgd, {"services": {service: entry}})

    def set_dgd_state(self, namespace: str, dgd: str, state: str) -> dict[str, Any]:
        """Write ``status.state`` (initializing, pending, successful, failed)."""
        return self._patch_dgd_status(namespace, dgd, {"state": state})

    def set_dgd_ready(self, namespace: str, dgd: str, ready: bool, message: str = "") -> dict[str, Any]:
        """Write the Ready condition (and ``status.state``: successful when ready, pending otherwise)."""
        current = self.get_dgd(namespace, dgd)
        conditions = [c for c in current.get("status", {}).get("conditions", []) if c.get("type") != "Ready"]
        previous = next((c for c in current.get("status", {}).get("conditions", []) if c.get("type") == "Ready"), None)
        status = "True" if ready else "False"
        changed = previous is None or previous.get("status") != status
        conditions.append(
            {
                "type": "Ready",
                "status": status,
                "reason": "AllServicesReady" if ready else "ServicesNotReady",
                "message": message or ("All services are ready" if ready else "Some services are not ready"),
                "lastTransitionTime": _now() if changed else previous["lastTransitionTime"],  # type: ignore[index]
                "observedGeneration": current["metadata"].get("generation", 1),
            }
        )
        patch = {"conditions": conditions, "state": "successful" if ready else "pending"}
        return self._patch_dgd_status(namespace, dgd, patch)

    def set_restart_status(
        self, namespace: str, dgd: str, observed_id: str, phase: str, in_progress: list[str] | None = None
    ) -> dict[str, Any]:
        """Write ``status.restart`` (phase: Pending, Restarting, Completed, Failed, Superseded)."""
        restart: dict[str, Any] = {"observedID": observed_id, "phase": phase}
        restart["inProgress"] = list(in_progress or [])
        return self._patch_dgd_status(namespace, dgd, {"restart": restart})

    def _patch_dgd_status(self, namespace: str, dgd: str, status: Mapping[str, Any]) -> dict[str, Any]:
        return dict(
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, DGD_PLURAL, dgd, {"status": dict(status)}
            )
        )

    # --- scaling adapters -----------------------------------------------------------------------------

    def create_adapter(self, namespace: str, dgd: str, service: str, replicas: int | None = None) -> dict[str, Any]:
        """Create the DGDSA ``{dgd}-{service lowercased}`` as the operator does for a service with
        ``scalingAdapter.enabled``: ``spec.replicas`` from the DGD (or ``replicas``), and its status
        (``replicas``, ``selector``) filled in. Returns the adapter."""
        if replicas is None:
            services = self.get_dgd(namespace, dgd).get("spec", {}).get("services", {})
            if service not in services:
                raise KeyError(f"DGD {namespace}/{dgd} has no service {service!r} (has {sorted(services)})")
            replicas = int(services[service].get("replicas", 1))
        name = adapter_name(dgd, service)
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "DynamoGraphDeploymentScalingAdapter",
            "metadata": {"name": name, "namespace": namespace, "labels": {LABEL_DGD: dgd}},
            "spec": {"dgdRef": {"name": dgd, "service": service}, "replicas": replicas},
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, DGDSA_PLURAL, body)
        return self.set_adapter_status(
            namespace, name, replicas, selector=f"{LABEL_DGD}={dgd},{LABEL_COMPONENT}={service}"
        )

    def get_adapter(self, namespace: str, name: str) -> dict[str, Any]:
        """The adapter as stored."""
        return dict(self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, DGDSA_PLURAL, name))

    def set_adapter_status(
        self, namespace: str, name: str, replicas: int, selector: str | None = None
    ) -> dict[str, Any]:
        """Write the adapter's ``status.replicas`` (and ``selector``)."""
        status: dict[str, Any] = {"replicas": replicas}
        if selector is not None:
            status["selector"] = selector
        return dict(
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, DGDSA_PLURAL, name, {"status": status}
            )
        )

    def delete_adapter(self, namespace: str, name: str) -> None:
        """Delete an adapter."""
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, DGDSA_PLURAL, name)

    def sync_adapter(self, namespace: str, dgd: str, service: str) -> int:
        """What the operator's adapter controller does: copy the adapter's ``spec.replicas`` into the DGD's
        ``spec.services[service].replicas`` and the adapter's ``status.replicas``. Returns the count."""
        name = adapter_name(dgd, service)
        replicas = int(self.get_adapter(namespace, name)["spec"]["replicas"])
        self.patch_dgd(namespace, dgd, {"spec": {"services": {service: {"replicas": replicas}}}})
        self.set_adapter_status(namespace, name, replicas)
        return replicas

    # --- pods -----------------------------------------------------------------------------------------

    def create_pod(
        self,
        namespace: str,
        name: str,
        labels: Mapping[str, str] | None = None,
        node: str | None = "node-1",
        container: str = "main",
        image: str = DEFAULT_IMAGE,
    ) -> Any:
        """Create a pod bound to ``node`` (``None``: unscheduled), with one container; returns a V1Pod.

        Its status is what the API server gives a new pod (phase Pending) until :meth:`set_pod_status`.
        """
        spec: dict[str, Any] = {"containers": [{"name": container, "image": image}]}
        if node:
            spec["nodeName"] = node
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
            "spec": spec,
        }
        return self.core.create_namespaced_pod(namespace, body)

    def create_dynamo_pod(
        self,
        namespace: str,
        dgd: str,
        service: str,
        index: int = 0,
        component_type: str = "worker",
        sub_component_type: str = "",
        running: bool = True,
    ) -> Any:
        """A pod of a DGD service, named ``{dgd}-{service lowercased}-{index}``, with Dynamo's labels;
        running and ready unless ``running=False``. Returns the V1Pod."""
        name = f"{adapter_name(dgd, service)}-{index}"
        labels = dynamo_labels(dgd, service, component_type, sub_component_type)
        labels[LABEL_NAMESPACE] = f"{namespace}-{dgd}"
        pod = self.create_pod(namespace, name, labels)
        if running:
            pod = self.set_pod_status(namespace, name)
        return pod

    def set_pod_status(
        self,
        namespace: str,
        name: str,
        phase: str = "Running",
        ready: bool = True,
        restarts: int = 0,
        waiting_reason: str | None = None,
        unschedulable_message: str | None = None,
        terminated_reason: str | None = None,
    ) -> Any:
        """Write a pod's status as the kubelet (or the scheduler) would; returns the V1Pod.

        - ``waiting_reason`` (e.g. ``CrashLoopBackOff``, ``ImagePullBackOff``): the container is waiting,
          not ready;
        - ``unschedulable_message``: phase Pending with PodScheduled False/Unschedulable and that message;
        - ``terminated_reason`` (e.g. ``OOMKilled``): the last termination of the container.
        """
        for attempt in range(_CONFLICT_RETRIES):
            pod = self.core.read_namespaced_pod(name, namespace)
            body = self.api_client.sanitize_for_serialization(pod)
            body["status"] = self._pod_status(
                pod, phase, ready, restarts, waiting_reason, unschedulable_message, terminated_reason
            )
            try:
                return self.core.replace_namespaced_pod_status(name, namespace, body)
            except self._kube.ApiException as exc:
                if exc.status != 409 or attempt == _CONFLICT_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _pod_status(
        self,
        pod: Any,
        phase: str,
        ready: bool,
        restarts: int,
        waiting_reason: str | None,
        unschedulable_message: str | None,
        terminated_reason: str | None,
    ) -> dict[str, Any]:
        now = _now()
        if unschedulable_message is not None:
            return {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": unschedulable_message,
                        "lastTransitionTime": now,
                    }
                ],
            }
        ready = ready and waiting_reason is None and phase == "Running"
        flag = "True" if ready else "False"
        conditions = [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
            {"type": "Ready", "status": flag, "lastTransitionTime": now},
        ]
        statuses = []
        for container in pod.spec.containers:
            state: dict[str, Any]
            if waiting_reason is not None:
                state = {"waiting": {"reason": waiting_reason, "message": f"{waiting_reason} (set by the test)"}}
            elif phase in ("Succeeded", "Failed"):
                code = 0 if phase == "Succeeded" else 1
                reason = "Completed" if code == 0 else "Error"
                state = {"terminated": {"exitCode": code, "reason": reason, "startedAt": now, "finishedAt": now}}
            elif phase == "Running":
                state = {"running": {"startedAt": now}}
            else:
                state = {"waiting": {"reason": "ContainerCreating"}}
            entry: dict[str, Any] = {
                "name": container.name,
                "image": container.image,
                "imageID": "",
                "ready": ready,
                "started": "running" in state,
                "restartCount": restarts,
                "state": state,
            }
            if terminated_reason is not None:
                entry["lastState"] = {
                    "terminated": {"exitCode": 137, "reason": terminated_reason, "startedAt": now, "finishedAt": now}
                }
            statuses.append(entry)
        return {
            "phase": phase,
            "conditions": conditions,
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": now,
            "containerStatuses": statuses,
        }

    def delete_pod(self, namespace: str, name: str) -> None:
        """Delete a pod at once (grace period 0: no kubelet will confirm a graceful stop)."""
        try:
            self.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
        except self._kube.ApiException as exc:
            if exc.status != 404:
                raise

    # --- Deployments (the plain-Deployment mode) ------------------------------------------------------

    def create_deployment(
        self,
        namespace: str,
        name: str,
        replicas: int = 1,
        labels: Mapping[str, str] | None = None,
        container: str = "main",
        image: str = DEFAULT_IMAGE,
        annotations: Mapping[str, str] | None = None,
    ) -> Any:
        """Create an apps/v1 Deployment selecting ``labels`` (default ``app: {name}``); returns a V1Deployment.

        No Deployment controller runs: its status stays empty until :meth:`set_deployment_status`.
        """
        selector = dict(labels or {"app": name})
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": selector,
                "annotations": dict(annotations or {}),
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": selector},
                    "spec": {"containers": [{"name": container, "image": image}]},
                },
            },
        }
        return self.apps.create_namespaced_deployment(namespace, body)

    def set_deployment_status(
        self,
        namespace: str,
        name: str,
        replicas: int | None = None,
        updated: int | None = None,
        ready: int | None = None,
        available: int | None = None,
        observed: bool = True,
    ) -> Any:
        """Write a Deployment's status as its controller would; counts default to ``spec.replicas``,
        each to the one before it (``updated`` <- ``replicas``, ``ready`` <- ``updated``, ...).

        ``observed=False`` leaves ``observedGeneration`` behind ``metadata.generation`` (a rollout the
        controller has not seen yet). Returns the V1Deployment.
        """
        for attempt in range(_CONFLICT_RETRIES):
            deployment = self.apps.read_namespaced_deployment(name, namespace)
            total = deployment.spec.replicas if replicas is None else replicas
            done_updated = total if updated is None else updated
            done_ready = done_updated if ready is None else ready
            done_available = done_ready if available is None else available
            generation = deployment.metadata.generation or 1
            now = _now()
            available_ok = done_available >= (deployment.spec.replicas or 0)
            body = self.api_client.sanitize_for_serialization(deployment)
            body["status"] = {
                "observedGeneration": generation if observed else max(0, generation - 1),
                "replicas": total,
                "updatedReplicas": done_updated,
                "readyReplicas": done_ready,
                "availableReplicas": done_available,
                "unavailableReplicas": max(0, total - done_available),
                "conditions": [
                    {
                        "type": "Available",
                        "status": "True" if available_ok else "False",
                        "reason": "MinimumReplicasAvailable" if available_ok else "MinimumReplicasUnavailable",
                        "message": "set by the test",
                        "lastUpdateTime": now,
                        "lastTransitionTime": now,
                    }
                ],
            }
            try:
                return self.apps.replace_namespaced_deployment_status(name, namespace, body)
            except self._kube.ApiException as exc:
                if exc.status != 409 or attempt == _CONFLICT_RETRIES - 1:
                    raise
                time.sleep(0.01)
        raise AssertionError("unreachable")


def _manifest(manifest: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    if isinstance(manifest, Mapping):
        return _deep_copy(manifest)
    text = manifest.read_text(encoding="utf-8") if isinstance(manifest, Path) else manifest
    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict):
        raise ValueError(f"a DGD manifest must be a mapping, got {type(loaded).__name__}")
    return loaded


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _deep_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_deep_copy(item) for item in value]
    return value
