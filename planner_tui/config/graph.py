"""The graph file: a namespace, its components and the planner settings, validated with pydantic."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from planner_tui.config.choices import (
    DEFAULT_GPUS_PER_REPLICA,
    DEFAULT_MAX_REPLICAS,
    DEFAULT_MIN_REPLICAS,
    NAME_RE,
    NAME_RULE,
)
from planner_tui.config.connector import ConnectorSettings, LocalSettings, runs_local_processes
from planner_tui.config.errors import Problem
from planner_tui.config.planner_settings import (
    MAX_REPLICAS,
    MetricsSettings,
    PlannerSettings,
    Policy,
    ResourcesSettings,
    StrictModel,
)
from planner_tui.config.templates import ReplicaContext, check_template, referenced_ports
from planner_tui.config.urls import url_problem
from planner_tui.model.components import ComponentSpec, Role, sub_component_type_of
from planner_tui.model.signals import Signal

MAX_COMPONENTS = 256
MAX_GPUS_PER_REPLICA = 1024
#: upper bounds of [metrics] durations (seconds), checked here so the table's own fields stay as they are
METRICS_MAX_S = {
    "interval_s": 3600.0,
    "scrape_timeout_s": 600.0,
    "history_s": 7 * 86400.0,
    "rate_window_s": 86400.0,
    "latency_window_s": 86400.0,
}


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


class DependencyCycle(ValueError):
    """``depends_on`` goes round in a circle; ``cycle`` lists it, first name repeated at the end."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__("dependency cycle: " + " -> ".join(cycle))


def topological_order(deps: Mapping[str, Sequence[str]]) -> list[str]:
    """Every name of ``deps`` (name -> the names it depends on), each after its dependencies.

    Iterative, so any depth works; ties keep the mapping's order. Dependencies that are not keys and
    self-references are ignored (the graph checks report those). Raises :class:`DependencyCycle`.
    """
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: placed in order
    for root in deps:
        if root in state:
            continue
        state[root] = 1
        path = [root]
        pending: list[Iterator[str]] = [iter(deps[root])]
        while pending:
            for dep in pending[-1]:
                if dep == path[-1] or dep not in deps or state.get(dep) == 2:
                    continue
                if state.get(dep) == 1:
                    raise DependencyCycle([*path[path.index(dep) :], dep])
                state[dep] = 1
                path.append(dep)
                pending.append(iter(deps[dep]))
                break
            else:
                pending.pop()
                node = path.pop()
                state[node] = 2
                order.append(node)
    return order


class ComponentConfig(StrictModel):
    """One ``[components.NAME]`` table: how to run a component's replicas and its bounds."""

    role: Role
    sub_component_type: str | None = Field(
        None, description="prefill or decode; defaults to the role for prefill/decode components"
    )
    command: str | None = Field(
        None, min_length=1, description="executable; placeholders allowed (required when the graph runs locally)"
    )
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    working_dir: str | None = None
    gpus_per_replica: int = Field(DEFAULT_GPUS_PER_REPLICA, ge=0, le=MAX_GPUS_PER_REPLICA)
    min_replicas: int = Field(DEFAULT_MIN_REPLICAS, ge=0, le=MAX_REPLICAS)
    max_replicas: int = Field(DEFAULT_MAX_REPLICAS, ge=1, le=MAX_REPLICAS)
    initial_replicas: int | None = Field(None, ge=0, le=MAX_REPLICAS, description="defaults to min_replicas")
    port: int | None = Field(None, ge=1024, le=65535, description="fixed port (single-replica components)")
    metrics_url: str | None = Field(None, description="e.g. http://127.0.0.1:{port}/metrics")
    health_url: str | None = Field(None, description="ready once this answers 2xx")
    ready_timeout_s: float = Field(
        120.0,
        gt=0,
        le=86400,
        description="seconds a running replica may stay not ready before it is shown as a problem; "
        "dependents wait this long for it",
    )
    depends_on: list[str] = Field(default_factory=list, max_length=MAX_COMPONENTS)
    graceful_timeout_s: float = Field(10.0, gt=0, le=3600, description="SIGTERM to SIGKILL")
    max_crash_restarts: int = Field(5, ge=0, le=1000, description="restarts before a replica is marked failed")
    policy: Policy | None = Field(None, description="overrides planner.policy for this component")
    target_signal: Signal | None = Field(None, description="signal for the target policy")
    target_value: float | None = Field(None, gt=0, le=1e12, description="per-replica target for the target policy")
    signals: dict[Signal, str] = Field(default_factory=dict, description="signal -> metric name overrides")
    simulated: bool = Field(
        False,
        description="runs 'planner_tui sim': follows --speedup, and a simulated frontend (fixed port) takes the "
        "dashboard's load keys",
    )

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

    @model_validator(mode="after")
    def _simulated_frontend_port(self) -> ComponentConfig:
        if self.simulated and self.role is Role.FRONTEND and self.port is None:
            raise PydanticCustomError(
                "simulated",
                "a simulated frontend needs a fixed port: its load-control endpoint and token file are found by it",
                {},
            )
        return self

    @property
    def effective_sub_component_type(self) -> str | None:
        """``prefill``/``decode`` from the explicit setting or the role, else None."""
        return sub_component_type_of(self.role, self.sub_component_type)

    @property
    def effective_initial_replicas(self) -> int:
        """Replicas to start with."""
        return self.min_replicas if self.initial_replicas is None else self.initial_replicas

    def to_spec(self, name: str) -> ComponentSpec:
        """The connector-independent record of this component."""
        return ComponentSpec(
            name=name,
            role=self.role,
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
    python: str | None = Field(
        None,
        min_length=1,
        description="interpreter substituted for {python} (e.g. a venv's bin/python); default: planner-tui's own",
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="environment of every component (a component's env overrides it)"
    )
    components: Annotated[dict[str, ComponentConfig], Field(min_length=1)]
    connector: ConnectorSettings = Field(
        default_factory=LocalSettings, description="the backend that runs the graph: local, kubernetes or global"
    )
    planner: PlannerSettings = Field(default_factory=PlannerSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    resources: ResourcesSettings = Field(default_factory=ResourcesSettings)

    @field_validator("namespace")
    @classmethod
    def _namespace_name(cls, value: str) -> str:
        return _check_name(value, "the namespace")

    _templates = field_validator("env")(_check_templates)

    @field_validator("python")
    @classmethod
    def _python_plain(cls, value: str | None) -> str | None:
        if value is not None and ("{" in value or "}" in value or "\0" in value):
            raise PydanticCustomError(
                "python", "must be a path to an interpreter, without placeholders, got {value}", {"value": repr(value)}
            )
        return value

    @field_validator("components", mode="before")
    @classmethod
    def _not_too_many(cls, value: Any) -> Any:
        if isinstance(value, dict) and len(value) > MAX_COMPONENTS:
            raise PydanticCustomError(
                "too_many",
                "at most {limit} components, got {count}; split the graph",
                {"limit": MAX_COMPONENTS, "count": len(value)},
            )
        return value

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
            if comp.command is None and self.runs_local_processes:
                problems.append(
                    Problem(
                        ("components", name, "command"),
                        "required key is missing: the executable each replica runs (the graph runs on this "
                        "machine; a graph whose [connector] kind is 'kubernetes' needs none)",
                    )
                )
            texts = [comp.command or "", *comp.args, *comp.env.values(), comp.metrics_url or "", comp.health_url or ""]
            problems += self._port_reference_problems(("components", name), repr(name), texts)
        problems += self._port_reference_problems(("env",), "the graph's env", list(self.env.values()))
        try:
            self.dependency_order()
        except DependencyCycle as exc:
            problems.append(Problem(("components",), str(exc)))
        problems += self._port_problems() + self._url_problems() + self._metrics_problems()
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

    def _port_reference_problems(self, loc: tuple[str, ...], user: str, texts: list[str]) -> list[Problem]:
        """``{ports.NAME}`` in ``texts`` (used at ``loc``) naming no component, or one without a fixed port."""
        problems = []
        names = set(self.components)
        for ref in sorted({r for t in texts for r in referenced_ports(t)}):
            if ref not in names:
                problems.append(
                    Problem(loc, f"{{ports.{ref}}} names an unknown component; known: {', '.join(sorted(names))}")
                )
            elif self.components[ref].port is None:
                problems.append(
                    Problem(
                        ("components", ref, "port"), f"{{ports.{ref}}} is used by {user}, so {ref!r} needs a fixed port"
                    )
                )
        return problems

    @property
    def runs_local_processes(self) -> bool:
        """True when the graph's replicas are processes on this machine (local execution)."""
        return runs_local_processes(self.connector)

    def min_gpus(self) -> int:
        """GPUs needed to run every component at its minimum."""
        return sum(c.min_replicas * c.gpus_per_replica for c in self.components.values())

    def dependency_order(self) -> list[str]:
        """Component names, each after the components it depends on (file order otherwise).

        Raises :class:`DependencyCycle` (never for a validated graph).
        """
        return topological_order({name: comp.depends_on for name, comp in self.components.items()})

    def sample_context(self, name: str) -> ReplicaContext:
        """Placeholder values like those of replica 0 of ``name``, to check rendered templates."""
        comp = self.components[name]
        return ReplicaContext(
            namespace=self.namespace,
            component=name,
            replica=0,
            port=comp.port if comp.port is not None else self.resources.port_range[0],
            gpus=tuple(range(min(comp.gpus_per_replica, 8))),
            ports={n: c.port for n, c in self.components.items() if c.port is not None},
            python=self.python_path(),
        )

    def python_path(self, working_dir: str | None = None) -> str:
        """What ``{python}`` stands for: the graph's ``python`` (``~`` expanded, a relative path taken from
        ``working_dir``, a bare name looked up on PATH), else the interpreter running planner-tui."""
        if self.python is None:
            return sys.executable
        path = os.path.expanduser(self.python)
        if os.sep not in path:
            return path  # a bare name: looked up on PATH like any command
        return os.path.abspath(os.path.join(working_dir or os.getcwd(), path))

    def component_env(self, name: str) -> dict[str, str]:
        """Component ``name``'s environment templates: the graph's ``env``, overridden by its own."""
        return {**self.env, **self.components[name].env}

    def _port_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        owners: dict[int, str] = {}
        for name, comp in self.components.items():
            if comp.port is None:
                continue
            if comp.port in owners:
                problems.append(
                    Problem(
                        ("components", name, "port"), f"{comp.port} is already the fixed port of {owners[comp.port]!r}"
                    )
                )
            else:
                owners[comp.port] = name
        exporter = self.planner.exporter_port
        if exporter is not None and exporter in owners:
            problems.append(
                Problem(("planner", "exporter_port"), f"{exporter} is already the fixed port of {owners[exporter]!r}")
            )
        return problems

    def _url_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        for name, comp in self.components.items():
            for key in ("metrics_url", "health_url"):
                template = getattr(comp, key)
                if template is None:
                    continue
                try:
                    url = self.sample_context(name).render(template)
                except ValueError:
                    continue  # {ports.X} without a fixed port: reported by graph_problems
                problem = url_problem(url, template)
                if problem:
                    problems.append(Problem(("components", name, key), problem))
        for i, url in enumerate(getattr(self.metrics, "gpu_metrics_urls", None) or ()):
            problem = url_problem(url)
            if problem:
                problems.append(Problem(("metrics", "gpu_metrics_urls", i), problem))
        prometheus = getattr(self.metrics, "prometheus_url", None)
        problem = url_problem(prometheus) if prometheus else None
        if problem:
            problems.append(Problem(("metrics", "prometheus_url"), problem))
        return problems

    def _metrics_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        for key, limit in METRICS_MAX_S.items():
            value = getattr(self.metrics, key, None)
            if isinstance(value, int | float) and value > limit:
                problems.append(Problem(("metrics", key), f"must be <= {limit:g}, got {value!r}"))
        return problems

    def component(self, name: str) -> ComponentConfig:
        """The component called ``name``; KeyError lists the known names."""
        try:
            return self.components[name]
        except KeyError:
            raise KeyError(f"unknown component {name!r}; known: {', '.join(self.components)}") from None

    def specs(self) -> list[ComponentSpec]:
        """Every component's spec, in file order."""
        return [c.to_spec(n) for n, c in self.components.items()]
