"""The graph file: a namespace, its components and the planner settings, validated with pydantic."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from planner_tui.config.errors import Problem
from planner_tui.config.planner_settings import (
    MetricsSettings,
    PlannerSettings,
    Policy,
    ResourcesSettings,
    StrictModel,
)
from planner_tui.config.templates import check_template, referenced_ports
from planner_tui.model.components import ComponentSpec
from planner_tui.model.signals import Signal

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
NAME_RULE = "lower-case letters, digits and '-', starting with a letter (at most 63 characters)"


class Role(StrEnum):
    """What a component does in the serving graph."""

    FRONTEND = "frontend"
    ROUTER = "router"
    PREFILL = "prefill"
    DECODE = "decode"
    WORKER = "worker"  # aggregated prefill+decode
    ENCODER = "encoder"
    OTHER = "other"


def _check_name(value: str, what: str) -> str:
    if not NAME_RE.match(value):
        raise PydanticCustomError(
            "name", "{what} must be {rule}, got {value}", {"what": what, "rule": NAME_RULE, "value": repr(value)}
        )
    return value


def _check_templates(value: Any) -> Any:
    texts = [value] if isinstance(value, str) else list(value.values()) if isinstance(value, dict) else value
    for text in texts or []:
        problem = check_template(text)
        if problem:
            raise PydanticCustomError("template", "{problem} (in {text})", {"problem": problem, "text": repr(text)})
    return value


class ComponentConfig(StrictModel):
    """One ``[components.NAME]`` table: how to run a component's replicas and its bounds."""

    role: Role
    sub_component_type: str | None = Field(
        None, description="prefill or decode; defaults to the role for prefill/decode components"
    )
    command: str = Field(min_length=1, description="executable; placeholders allowed")
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    working_dir: str | None = None
    gpus_per_replica: int = Field(0, ge=0)
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(1, ge=1)
    initial_replicas: int | None = Field(None, ge=0, description="defaults to min_replicas")
    port: int | None = Field(None, ge=1024, le=65535, description="fixed port (single-replica components)")
    metrics_url: str | None = Field(None, description="e.g. http://127.0.0.1:{port}/metrics")
    health_url: str | None = Field(None, description="ready once this answers 2xx")
    depends_on: list[str] = Field(default_factory=list)
    graceful_timeout_s: float = Field(10.0, gt=0, le=3600, description="SIGTERM to SIGKILL")
    max_crash_restarts: int = Field(5, ge=0, description="restarts before a replica is marked failed")
    policy: Policy | None = Field(None, description="overrides planner.policy for this component")
    target_signal: Signal | None = Field(None, description="signal for the target policy")
    target_value: float | None = Field(None, gt=0, description="per-replica target for the target policy")
    signals: dict[Signal, str] = Field(default_factory=dict, description="signal -> metric name overrides")

    @field_validator("max_replicas")
    @classmethod
    def _max_not_below_min(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("min_replicas")
        if low is not None and value < low:
            raise PydanticCustomError(
                "ordering", "must be >= min_replicas ({low}), got {value}", {"low": low, "value": value}
            )
        return value

    @field_validator("initial_replicas")
    @classmethod
    def _initial_in_bounds(cls, value: int | None, info: ValidationInfo) -> int | None:
        low, high = info.data.get("min_replicas"), info.data.get("max_replicas")
        if value is not None and low is not None and high is not None and not low <= value <= high:
            raise PydanticCustomError(
                "bounds",
                "must be between min_replicas ({low}) and max_replicas ({high}), got {value}",
                {"low": low, "high": high, "value": value},
            )
        return value

    @field_validator("port")
    @classmethod
    def _fixed_port_single(cls, value: int | None, info: ValidationInfo) -> int | None:
        high = info.data.get("max_replicas")
        if value is not None and high is not None and high > 1:
            raise PydanticCustomError(
                "port",
                "a fixed port needs max_replicas = 1 (got {high}); remove it to allocate per replica",
                {"high": high},
            )
        return value

    @field_validator("sub_component_type")
    @classmethod
    def _known_sub_type(cls, value: str | None) -> str | None:
        if value is not None and value not in ("prefill", "decode"):
            raise PydanticCustomError("sub_type", "expected 'prefill' or 'decode', got {value!r}", {"value": value})
        return value

    _templates = field_validator("command", "args", "env", "metrics_url", "health_url")(_check_templates)

    @model_validator(mode="after")
    def _target_policy_complete(self) -> ComponentConfig:
        if self.policy is Policy.TARGET and (self.target_signal is None or self.target_value is None):
            raise PydanticCustomError(
                "target",
                "policy 'target' needs target_signal and target_value, e.g. "
                'target_signal = "inflight", target_value = 8',
                {},
            )
        return self

    @property
    def effective_sub_component_type(self) -> str | None:
        """``prefill``/``decode`` from the explicit setting or the role, else None."""
        if self.sub_component_type:
            return self.sub_component_type
        return self.role.value if self.role in (Role.PREFILL, Role.DECODE) else None

    @property
    def effective_initial_replicas(self) -> int:
        """Replicas to start with."""
        return self.min_replicas if self.initial_replicas is None else self.initial_replicas

    def to_spec(self, name: str) -> ComponentSpec:
        """The connector-independent record of this component."""
        return ComponentSpec(
            name=name,
            role=self.role.value,
            sub_component_type=self.effective_sub_component_type,
            min_replicas=self.min_replicas,
            max_replicas=self.max_replicas,
            gpus_per_replica=self.gpus_per_replica,
            depends_on=tuple(self.depends_on),
        )


class GraphConfig(StrictModel):
    """A whole graph file: ``namespace``, ``[components.*]``, ``[planner]``, ``[metrics]``, ``[resources]``."""

    namespace: str
    description: str = ""
    components: Annotated[dict[str, ComponentConfig], Field(min_length=1)]
    planner: PlannerSettings = Field(default_factory=PlannerSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    resources: ResourcesSettings = Field(default_factory=ResourcesSettings)

    @field_validator("namespace")
    @classmethod
    def _namespace_name(cls, value: str) -> str:
        return _check_name(value, "the namespace")

    @model_validator(mode="after")
    def _graph_consistent(self) -> GraphConfig:
        problems = self.graph_problems()
        if problems:
            raise PydanticCustomError(
                "graph_problems",
                "{summary}",
                {"summary": "; ".join(p.message for p in problems), "problems": problems},
            )
        return self

    def graph_problems(self) -> list[Problem]:
        """Checks across components: names, references, placeholders, GPU budget and inventory."""
        problems: list[Problem] = []
        names = set(self.components)
        for name, comp in self.components.items():
            if not NAME_RE.match(name):
                problems.append(Problem(("components", name), f"component names must be {NAME_RULE}"))
            for i, dep in enumerate(comp.depends_on):
                if dep not in names:
                    problems.append(
                        Problem(
                            ("components", name, "depends_on", i),
                            f"unknown component {dep!r}; known: {', '.join(sorted(names))}",
                        )
                    )
                elif dep == name:
                    problems.append(
                        Problem(("components", name, "depends_on", i), "a component cannot depend on itself")
                    )
            texts = [comp.command, *comp.args, *comp.env.values(), comp.metrics_url or "", comp.health_url or ""]
            for ref in {r for t in texts for r in referenced_ports(t)}:
                if ref not in names:
                    problems.append(
                        Problem(
                            ("components", name),
                            f"{{ports.{ref}}} names an unknown component; known: {', '.join(sorted(names))}",
                        )
                    )
                elif self.components[ref].port is None:
                    problems.append(
                        Problem(
                            ("components", ref, "port"),
                            f"{{ports.{ref}}} is used by {name!r}, so {ref!r} needs a fixed port",
                        )
                    )
        cycle = self._dependency_cycle()
        if cycle:
            problems.append(Problem(("components",), "dependency cycle: " + " -> ".join(cycle)))
        min_gpus = self.min_gpus()
        budget = self.planner.max_gpu_budget
        if budget >= 0 and min_gpus > budget:
            problems.append(
                Problem(
                    ("planner", "max_gpu_budget"),
                    f"must cover the minimum replicas, which need {min_gpus} GPUs, got {budget}",
                )
            )
        gpus = self.resources.gpus
        if isinstance(gpus, list) and min_gpus > len(gpus):
            problems.append(
                Problem(("resources", "gpus"), f"{len(gpus)} GPUs declared but the minimum replicas need {min_gpus}")
            )
        return problems

    def min_gpus(self) -> int:
        """GPUs needed to run every component at its minimum."""
        return sum(c.min_replicas * c.gpus_per_replica for c in self.components.values())

    def _dependency_cycle(self) -> list[str] | None:
        state: dict[str, int] = {}
        path: list[str] = []

        def visit(node: str) -> list[str] | None:
            state[node] = 1
            path.append(node)
            for dep in self.components[node].depends_on:
                if dep not in self.components or dep == node:
                    continue
                if state.get(dep) == 1:
                    return [*path[path.index(dep) :], dep]
                if dep not in state:
                    found = visit(dep)
                    if found:
                        return found
            path.pop()
            state[node] = 2
            return None

        for name in self.components:
            if name not in state:
                found = visit(name)
                if found:
                    return found
        return None

    def component(self, name: str) -> ComponentConfig:
        """The component called ``name``; KeyError lists the known names."""
        try:
            return self.components[name]
        except KeyError:
            raise KeyError(f"unknown component {name!r}; known: {', '.join(self.components)}") from None

    def specs(self) -> list[ComponentSpec]:
        """Every component's spec, in file order."""
        return [c.to_spec(n) for n, c in self.components.items()]
