"""The blocking Kubernetes API calls the connector makes, on the official ``kubernetes`` client.

Every method here blocks (it is an HTTP request); the connector runs them with ``asyncio.to_thread``.
Objects are plain JSON dicts (camelCase, as the API server sends them): the client's typed models
cost time and rename every field. ``kubernetes`` is imported here, lazily, and nowhere else outside
this package. The client does not retry on its own (``retries=0``): the connector's backoff decides.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from planner_tui.connectors.errors import ConnectorError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

GROUP = "nvidia.com"
VERSION = "v1alpha1"
DGD_PLURAL = "dynamographdeployments"
ADAPTER_PLURAL = "dynamographdeploymentscalingadapters"
#: (connect, read) seconds of a plain request; watches and log streams set their own
REQUEST_TIMEOUT = (3.0, 15.0)
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True, slots=True)
class Resource:
    """One kind of object the connector reads or changes, as RBAC names it (for error messages)."""

    resource: str  # "dynamographdeployments", "pods/log", "deployments/scale"
    group: str = ""  # "" is the core group

    @property
    def qualified(self) -> str:
        """``dynamographdeployments.nvidia.com``, ``pods`` (the form ``kubectl auth can-i`` takes)."""
        return f"{self.resource}.{self.group}" if self.group else self.resource


DGD = Resource(DGD_PLURAL, GROUP)
ADAPTER_SCALE = Resource(f"{ADAPTER_PLURAL}/scale", GROUP)
PODS = Resource("pods")
POD_LOGS = Resource("pods/log")
DEPLOYMENTS = Resource("deployments", "apps")
DEPLOYMENT_SCALE = Resource("deployments/scale", "apps")


def load_api_client(
    *, kubeconfig: str | None, context: str | None, in_cluster: bool, pool_size: int = 32
) -> tuple[ApiClient, str]:
    """An ``ApiClient`` for the configured cluster and the API server's URL (for messages).

    ``in_cluster``: the pod's service account; else ``kubeconfig`` (default ``$KUBECONFIG`` or
    ``~/.kube/config``) with ``context`` (default: its current context). Raises ConnectorError
    naming the file and the fix when the configuration cannot be loaded.
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        if in_cluster:
            config.load_incluster_config(client_configuration=configuration)
        else:
            path = os.path.expanduser(kubeconfig) if kubeconfig else None
            config.load_kube_config(
                config_file=path, context=context, client_configuration=configuration, persist_config=False
            )
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        where = (
            "in-cluster service account (in_cluster = true)"
            if in_cluster
            else f"kubeconfig {kubeconfig or os.environ.get('KUBECONFIG') or '~/.kube/config'}"
            + (f", context {context!r}" if context else "")
        )
        raise ConnectorError(
            f"cannot load the Kubernetes configuration from the {where}: {exc}; "
            "set [connector] kubeconfig / context, or in_cluster = true inside a pod"
        ) from None
    configuration.retries = 0  # no silent retries: the connector's backoff decides, and counts
    configuration.connection_pool_maxsize = pool_size  # watches and log followers each hold a connection
    return client.ApiClient(configuration), str(configuration.host)


def _json(response: Any) -> Any:
    return json.loads(response.data)


def _object(answer: object) -> dict[str, Any]:
    """A custom-objects answer (the client types it ``object``; it is a JSON dict)."""
    return cast(dict[str, Any], answer)


class KubeApi:
    """The API calls of the connector, blocking, on dicts. One instance per connector."""

    def __init__(self, api_client: ApiClient, namespace: str, server: str) -> None:
        from kubernetes import client

        self.api_client = api_client
        self.namespace = namespace
        self.server = server
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)

    def close(self) -> None:
        """Close the connection pool."""
        self.api_client.close()

    # -- DynamoGraphDeployments ----------------------------------------------------------------------
    def get_dgd(self, name: str) -> dict[str, Any]:
        """The DGD called ``name``."""
        return _object(
            self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, DGD_PLURAL, name, _request_timeout=REQUEST_TIMEOUT
            )
        )

    def list_dgds(self, **params: Any) -> dict[str, Any]:
        """The namespace's DGDs (a list object with ``items`` and ``metadata.resourceVersion``)."""
        return _object(
            self.custom.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, DGD_PLURAL, _request_timeout=REQUEST_TIMEOUT, **params
            )
        )

    def watch_dgds(self, **params: Any) -> Any:
        """A raw watch response of the namespace's DGDs (read it line by line)."""
        return self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, DGD_PLURAL, watch=True, _preload_content=False, **params
        )

    def patch_dgd(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of the DGD (``metadata.resourceVersion`` in ``body`` makes it conditional)."""
        return _object(
            self.custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                DGD_PLURAL,
                name,
                body,
                _content_type=MERGE_PATCH,
                _request_timeout=REQUEST_TIMEOUT,
            )
        )

    def list_adapters(self, **params: Any) -> dict[str, Any]:
        """The namespace's scaling adapters (DGDSA)."""
        return _object(
            self.custom.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, ADAPTER_PLURAL, _request_timeout=REQUEST_TIMEOUT, **params
            )
        )

    def watch_adapters(self, **params: Any) -> Any:
        """A raw watch response of the namespace's scaling adapters."""
        return self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, ADAPTER_PLURAL, watch=True, _preload_content=False, **params
        )

    def patch_adapter_scale(self, name: str, replicas: int) -> dict[str, Any]:
        """Set ``spec.replicas`` through the scaling adapter's scale subresource (404: no adapter)."""
        return _object(
            self.custom.patch_namespaced_custom_object_scale(
                GROUP,
                VERSION,
                self.namespace,
                ADAPTER_PLURAL,
                name,
                {"spec": {"replicas": replicas}},
                _content_type=MERGE_PATCH,
                _request_timeout=REQUEST_TIMEOUT,
            )
        )

    # -- Deployments -----------------------------------------------------------------------------------
    def list_deployments(self, **params: Any) -> dict[str, Any]:
        """The namespace's Deployments, raw."""
        response = self.apps.list_namespaced_deployment(
            self.namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **params
        )
        return dict(_json(response))

    def watch_deployments(self, **params: Any) -> Any:
        """A raw watch response of the namespace's Deployments."""
        return self.apps.list_namespaced_deployment(self.namespace, watch=True, _preload_content=False, **params)

    def patch_deployment_scale(self, name: str, replicas: int) -> None:
        """Set a Deployment's replicas through its scale subresource."""
        self.apps.patch_namespaced_deployment_scale(
            name,
            self.namespace,
            {"spec": {"replicas": replicas}},
            _content_type=MERGE_PATCH,
            _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
        )

    def patch_deployment(self, name: str, body: dict[str, Any]) -> None:
        """A JSON merge patch of a Deployment."""
        self.apps.patch_namespaced_deployment(
            name,
            self.namespace,
            body,
            _content_type=MERGE_PATCH,
            _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
        )

    # -- pods ------------------------------------------------------------------------------------------
    def list_pods(self, **params: Any) -> dict[str, Any]:
        """The namespace's pods, raw."""
        response = self.core.list_namespaced_pod(
            self.namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **params
        )
        return dict(_json(response))

    def watch_pods(self, **params: Any) -> Any:
        """A raw watch response of the namespace's pods."""
        return self.core.list_namespaced_pod(self.namespace, watch=True, _preload_content=False, **params)

    def pod_log(self, pod: str, *, container: str | None = None, **params: Any) -> Any:
        """A raw response of a pod's log (``tail_lines``, ``follow``, ``timestamps``)."""
        return self.core.read_namespaced_pod_log(
            pod, self.namespace, container=container, _preload_content=False, **params
        )
