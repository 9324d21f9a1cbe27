"""The scaling contract shared by the planner, the connectors and the Global Planner service.

These are wire records (validated with pydantic) because they cross process boundaries.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TargetReplica(BaseModel):
    """A desired replica count for one component, chosen by name or by ``sub_component_type``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sub_component_type: str | None = None
    component_name: str | None = None
    desired_replicas: int = Field(ge=0)

    @model_validator(mode="after")
    def _names_a_component(self) -> TargetReplica:
        if self.sub_component_type is None and self.component_name is None:
            raise ValueError("a target needs component_name or sub_component_type")
        return self


class PredictedLoad(BaseModel):
    """Caller-provided prediction context for a scale request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_requests: float | None = None
    isl: float | None = None
    osl: float | None = None


class ScaleRequest(BaseModel):
    """A planner's request to the Global Planner to set replica counts on a graph deployment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    caller_namespace: str
    graph_deployment_name: str
    k8s_namespace: str
    target_replicas: list[TargetReplica]
    blocking: bool = False
    timestamp: float | None = None
    predicted_load: PredictedLoad | None = None


class ScaleResponse(BaseModel):
    """The Global Planner's answer: status, detail and the observed replica counts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Literal["success", "error", "scaling"]
    message: str = ""
    current_replicas: dict[str, int] = Field(default_factory=dict)
