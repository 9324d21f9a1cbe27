"""The graph file's ``[connector]`` table: which backend runs the graph, with that backend's settings.

One model per backend, chosen by ``kind``; a graph file without the table runs locally. Only
:mod:`planner_tui.connectors.factory` turns these settings into a connector, so no other module names
a backend. Each backend's owner keeps its own class here.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from planner_tui.config.planner_settings import StrictModel
from planner_tui.config.urls import url_problem

#: the Kubernetes name rule (RFC 1123 label/subdomain, as DGD and Deployment names must be)
_K8S_NAME_MAX = 253
#: environment variable naming the DynamoGraphDeployment, as upstream's planner reads it
DGD_NAME_ENV = "DYN_PARENT_DGD_K8S_NAME"


def _k8s_name(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    ok = 0 < len(value) <= _K8S_NAME_MAX and all(c.islower() or c.isdigit() or c in "-." for c in value)
    if not ok or not value[0].isalnum() or not value[-1].isalnum():
        raise PydanticCustomError(
            "k8s_name",
            "{what} must be a Kubernetes name (lower-case letters, digits, '-' and '.', starting and ending with a "
            "letter or digit), got {value}",
            {"what": what, "value": repr(value)},
        )
    return value


class LocalSettings(StrictModel):
    """``kind = "local"``: replicas are processes on this machine under circusd (the default)."""

    kind: Literal["local"] = "local"


class KubernetesSettings(StrictModel):
    """``kind = "kubernetes"``: a DynamoGraphDeployment, or plain Deployments, through the Kubernetes API."""

    kind: Literal["kubernetes"]
    target: Literal["dgd", "deployments"] = Field(
        "dgd", description="a DynamoGraphDeployment by name, or apps/v1 Deployments chosen by a label selector"
    )
    dgd_name: str | None = Field(
        None, description=f"the DynamoGraphDeployment (target = 'dgd'); default: ${DGD_NAME_ENV}"
    )
    selector: str | None = Field(
        None, min_length=1, description="label selector of the Deployments (target = 'deployments')"
    )
    k8s_namespace: str | None = Field(
        None,
        description="Kubernetes namespace; default: the kubeconfig context's, in-cluster the pod's, else 'default'",
    )
    kubeconfig: str | None = Field(
        None, min_length=1, description="kubeconfig file; default: $KUBECONFIG or ~/.kube/config"
    )
    context: str | None = Field(None, min_length=1, description="kubeconfig context; default: the current one")
    in_cluster: bool = Field(False, description="use the pod's service account instead of a kubeconfig")
    scale_timeout_s: float = Field(
        600.0, gt=0, le=86400, description="how long a blocking scale waits for spec == updated == ready"
    )

    @field_validator("dgd_name")
    @classmethod
    def _dgd_name(cls, value: str | None) -> str | None:
        return _k8s_name(value, "dgd_name")

    @field_validator("k8s_namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        return _k8s_name(value, "k8s_namespace")

    def effective_dgd_name(self) -> str | None:
        """The DGD's name: the setting, else ``$DYN_PARENT_DGD_K8S_NAME`` (None when neither is set)."""
        return self.dgd_name or os.environ.get(DGD_NAME_ENV) or None


#: where a delegating graph's state and logs are read (the Global Planner changes it)
ExecutionSettings = Annotated[LocalSettings | KubernetesSettings, Field(discriminator="kind")]


class GlobalSettings(StrictModel):
    """``kind = "global"``: scaling decisions go to a Global Planner service, which applies them."""

    kind: Literal["global"]
    address: str = Field(description="the Global Planner's base URL, e.g. http://127.0.0.1:8411")
    global_planner_namespace: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="the service's DYN_NAMESPACE (its endpoints are /<namespace>/GlobalPlanner/...)",
    )
    token_file: str | None = Field(
        None, min_length=1, description="file (0600) holding this namespace's bearer token; none: no Authorization"
    )
    graph_deployment_name: str | None = Field(
        None, description="the deployment the requests name; default: $DYN_PARENT_DGD_K8S_NAME, else the namespace"
    )
    k8s_namespace: str | None = Field(
        None, description="the Kubernetes namespace the requests name; default: $POD_NAMESPACE, else 'default'"
    )
    health_interval_s: float = Field(
        2.0, gt=0, le=3600, description="how often the service's health is checked (the degraded state)"
    )
    timeout_s: float = Field(10.0, gt=0, le=3600, description="per request")
    retries: int = Field(3, ge=0, le=100, description="retries of a request that failed to get an answer")
    execution: ExecutionSettings = Field(
        default_factory=LocalSettings, description="where the graph's state and logs are read"
    )

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        problem = url_problem(value)
        if problem:
            raise PydanticCustomError("url", "{problem}", {"problem": problem})
        return value.rstrip("/")


ConnectorSettings = Annotated[LocalSettings | KubernetesSettings | GlobalSettings, Field(discriminator="kind")]
CONNECTOR_KINDS = ("local", "kubernetes", "global")


def runs_local_processes(settings: LocalSettings | KubernetesSettings | GlobalSettings) -> bool:
    """True when the graph's replicas are processes on this machine (components then need a ``command``)."""
    if isinstance(settings, GlobalSettings):
        return runs_local_processes(settings.execution)
    return isinstance(settings, LocalSettings)
