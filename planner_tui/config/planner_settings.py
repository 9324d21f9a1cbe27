"""Planner, metrics and resource settings of a graph file, with the upstream defaults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from planner_tui.config.choices import MAX_GPUS, MAX_REPLICAS, Policy, Predictor, SignalPreset
from planner_tui.config.choices import SIGNAL_PRESETS as SIGNAL_PRESETS  # re-exported
from planner_tui.model.decisions import PlannerMode


def _above(lower_field: str) -> Callable[[float, ValidationInfo], float]:
    """A field validator: the value must be greater than the already-validated ``lower_field``."""

    def check(value: float, info: ValidationInfo) -> float:
        lower = info.data.get(lower_field)
        if lower is not None and value <= lower:
            raise PydanticCustomError(
                "ordering",
                "must be > {lower_field} ({lower}), got {value}",
                {"lower_field": lower_field, "lower": lower, "value": value},
            )
        return value

    return check


class StrictModel(BaseModel):
    """Base of every settings table: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # inf/nan: "expected a finite number"


class PlannerSettings(StrictModel):
    """The ``[planner]`` table. Defaults follow the upstream Dynamo load planner (its thresholds and intervals)."""

    mode: PlannerMode = PlannerMode.AUTO
    policy: Policy = Policy.LOAD
    adjustment_interval_s: float = Field(10.0, ge=0.25, le=3600, description="seconds between decisions")
    max_step: int = Field(
        1, ge=1, le=MAX_REPLICAS, description="largest change per component per interval (load policy)"
    )

    prefill_queue_scale_down: float = Field(0.2, ge=0, le=1e6, description="prefill queue per worker, scale down below")
    prefill_queue_scale_up: float = Field(5.0, gt=0, le=1e6, description="prefill queue per worker, scale up above")
    prefill_trend_intervals: int = Field(3, ge=0, le=1000, description="intervals ahead the trend must stay above")
    decode_kv_scale_down: float = Field(0.5, ge=0, le=1, description="decode KV load per worker, down below")
    decode_kv_scale_up: float = Field(0.9, gt=0, le=1e6, description="decode KV load per worker, scale up above")
    decode_waiting_weight: float = Field(0.02, ge=0, le=1e6, description="KV load added per waiting request")
    decode_scale_down_grace_intervals: int = Field(3, ge=0, le=1000, description="no decode scale-down after up")
    decode_scale_up_any_replica_kv: float | None = Field(
        None,
        gt=0,
        le=1e6,
        description="also scale decode up when any one ready replica's KV load passes this (routing can fill "
        "one replica while the mean stays low); none = upstream (the mean per worker only)",
    )
    scale_down_headroom: float | None = Field(
        0.1,
        ge=0,
        lt=1,
        description="load policy: scale down only if the per-worker load after it stays this fraction under the "
        "scale-up threshold (stops 1<->2 flapping); none = upstream behaviour",
    )

    max_gpu_budget: int = Field(8, ge=-1, le=MAX_GPUS, description="GPUs across the graph; -1 = unlimited")
    scale_up_stabilization_s: float = Field(0.0, ge=0, le=86400)
    scale_down_stabilization_s: float = Field(60.0, ge=0, le=86400)

    ttft_target_ms: float = Field(500.0, gt=0, le=3_600_000)
    itl_target_ms: float = Field(50.0, gt=0, le=3_600_000)
    predictor: Predictor = Predictor.MOVING_AVERAGE
    prediction_window: int = Field(6, ge=1, le=10_000, description="intervals of history the predictor uses")
    profile_file: str | None = Field(None, description="per-replica capacity profile (throughput policy)")

    audit_log: str | None = Field(None, description="JSON-lines audit log; default under the state dir")
    audit_max_bytes: int = Field(10 * 1024 * 1024, ge=4096, le=2**40)
    audit_backups: int = Field(3, ge=0, le=1000)
    exporter_port: Annotated[int, Field(ge=1024, le=65535)] | None = Field(
        None, description="serve the planner's gauges on 127.0.0.1:PORT (off when absent)"
    )

    _prefill_order = field_validator("prefill_queue_scale_up")(_above("prefill_queue_scale_down"))
    _decode_order = field_validator("decode_kv_scale_up")(_above("decode_kv_scale_down"))


#: a Prometheus label value planner-tui puts between double quotes (Dynamo's names: letters, digits, _ - .)
LABEL_VALUE_PATTERN = r"^[A-Za-z0-9_.:-]+$"


class PrometheusLabels(StrictModel):
    """One ``[metrics.prometheus_components.NAME]`` table: how Prometheus names a component's series.

    Dynamo labels a worker's ``dynamo_component_*`` series with its own namespace (``dynamo``) and
    component (``backend`` for decode and aggregated workers, ``prefill`` for prefill workers); these
    defaults come from the component's role. ``selector``/``target_selector`` replace the ``[metrics]``
    ones for this component.
    """

    dynamo_namespace: str | None = Field(None, pattern=LABEL_VALUE_PATTERN, description="default: metrics'")
    dynamo_component: str | None = Field(
        None, pattern=LABEL_VALUE_PATTERN, description="default: backend (decode, worker), prefill (prefill)"
    )
    selector: str | None = Field(None, description="matchers for series with Dynamo's labels")
    target_selector: str | None = Field(None, description="matchers for series without them (vllm:*, frontend)")


class MetricsSettings(StrictModel):
    """The ``[metrics]`` table: how often and from where signals are collected."""

    interval_s: float = Field(1.0, ge=0.25, description="collector tick")
    scrape_timeout_s: float = Field(0.8, gt=0)
    max_concurrency: int = Field(32, ge=1)
    history_s: float = Field(900.0, ge=10, description="seconds of history kept per series")
    preset: SignalPreset = "dynamo"
    prometheus_url: str | None = Field(None, description="query a Prometheus server instead of scraping")
    dynamo_namespace: str = Field(
        "dynamo",
        pattern=LABEL_VALUE_PATTERN,
        description="the Dynamo namespace the workers register in (their dynamo_namespace label; Dynamo's "
        "default is 'dynamo', not the graph's namespace)",
    )
    prometheus_selector: str = Field(
        'dynamo_namespace="$dynamo_namespace",dynamo_component="$dynamo_component"',
        description="PromQL label matchers picking a component's series that carry Dynamo's labels "
        "(dynamo_component_*); $dynamo_namespace, $dynamo_component, $namespace, $component substituted",
    )
    prometheus_target_selector: str = Field(
        'job="$component"',
        description="PromQL label matchers picking a component's series without Dynamo's labels (vllm:*, "
        "dynamo_frontend_*): only the labels Prometheus adds (job, instance, pod) tell components apart",
    )
    prometheus_components: dict[str, PrometheusLabels] = Field(
        default_factory=dict,
        description="per component: its Dynamo namespace and component names, or its own selectors",
    )
    rate_window_s: float = Field(10.0, gt=0, description="window of counter rates (requests per second)")
    latency_window_s: float = Field(60.0, gt=0, description="window of histogram quantiles and means")
    gpu_metrics_urls: list[str] = Field(
        default_factory=list, description="extra endpoints serving DCGM GPU metrics (e.g. a dcgm-exporter)"
    )
    max_body_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        le=256 * 1024 * 1024,
        strict=True,
        description="largest metrics body read from one target; a larger one is refused and its replica is stale",
    )
    max_series: int = Field(
        50_000,
        ge=1,
        le=10_000_000,
        strict=True,
        description="most samples read from one target's exposition; more is refused and its replica is stale",
    )


class ResourcesSettings(StrictModel):
    """The ``[resources]`` table: GPUs to hand out and the port range for replicas."""

    gpus: Literal["auto"] | Annotated[list[Annotated[int, Field(ge=0, lt=MAX_GPUS)]], Field(max_length=MAX_GPUS)] = (
        Field("auto", description='"auto" discovers GPUs through NVML; a list declares GPU indices')
    )
    simulated_gpus: bool = Field(False, description="declared GPUs are simulated (the demo)")
    port_range: tuple[Annotated[int, Field(ge=1024, le=65535)], Annotated[int, Field(ge=1024, le=65535)]] = (
        21000,
        21999,
    )

    @field_validator("gpus")
    @classmethod
    def _unique(cls, value: str | list[int]) -> str | list[int]:
        if isinstance(value, list) and len(set(value)) != len(value):
            raise PydanticCustomError("duplicate", "GPU indices must be unique, got {value}", {"value": value})
        return value

    @field_validator("port_range")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] > value[1]:
            raise PydanticCustomError(
                "ordering", "must be [first, last] with first <= last, got {value}", {"value": list(value)}
            )
        return value

    @field_validator("simulated_gpus")
    @classmethod
    def _needs_declared(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("gpus") == "auto":
            raise PydanticCustomError(
                "simulated", "simulated GPUs must be declared: set resources.gpus to a list, e.g. [0, 1]", {}
            )
        return value
