"""Which metric is which signal, per component role: the ``dynamo`` and ``vllm`` presets and overrides.

A :class:`SignalSpec` says how a :class:`~planner_tui.model.Signal` is read from a replica's metrics:
a gauge, a counter turned into a per-second rate, a histogram quantile or a histogram mean over a
window. ``metrics`` lists candidate names, first present wins (a prefill-only Dynamo worker has no
``vllm:*`` gauges, so its queue falls back to ``dynamo_component_inflight_requests``). ``where`` narrows
a candidate to the series with given labels: a Dynamo worker exposes ``dynamo_component_*`` once per
endpoint (``generate`` and, on a prefill worker, a KV-query endpoint), and only ``generate`` serves
requests. :meth:`SignalSpec.series` writes a candidate as ``name{label="value"}``: the text a Snapshot's
:attr:`~planner_tui.model.signals.SignalValue.source` names.

The ``dynamo`` preset was checked against a real Dynamo 1.6.1 frontend and prefill and decode mocker
workers (``tests/dynamo``). Some series exist only after the first request (the frontend's
``dynamo_frontend_*`` request gauges, a worker's ``vllm:*`` gauges): a replica that answered without
them reads 0 for its gauges and rates (see :mod:`~planner_tui.metrics.replica_reader`).

A graph file overrides a component's signal with ``signals = { kv_usage = "my_kv_metric" }``: a metric
name (its kind is inferred) or, for the Prometheus query source, a PromQL expression, where
``$namespace``, ``$component``, ``$selector`` and ``$window`` are substituted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from planner_tui.config.planner_settings import SIGNAL_PRESETS
from planner_tui.model.signals import EXTENSIVE, Signal

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


class Kind(StrEnum):
    """How a signal is computed from exposition samples."""

    GAUGE = "gauge"  # current value
    RATE = "rate"  # per-second increase of a counter over the rate window
    QUANTILE = "quantile"  # histogram quantile over the latency window
    MEAN = "mean"  # histogram sum / count increase over the latency window


#: label matchers of one candidate metric: ((label, value), ...)
Labels = tuple[tuple[str, str], ...]


def series_text(metric: str, labels: Labels) -> str:
    """``metric{label="value",...}``, or ``metric`` without matchers."""
    if not labels:
        return metric
    return metric + "{" + ",".join(f'{label}="{value}"' for label, value in labels) + "}"


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """How one signal is read: candidate metric names (or a PromQL expression) and the kind."""

    signal: Signal
    metrics: tuple[str, ...]
    kind: Kind = Kind.GAUGE
    quantile: float = 0.95
    promql: str | None = None
    #: (metric, ((label, value), ...)): the labels a candidate's series must carry to count
    where: tuple[tuple[str, Labels], ...] = ()

    def labels_of(self, metric: str) -> Labels:
        """The ``(label, value)`` pairs ``metric``'s series must carry (empty: every series counts)."""
        for name, labels in self.where:
            if name == metric:
                return labels
        return ()

    def series(self, metric: str) -> str:
        """``metric`` with its label matchers, ``dynamo_component_inflight_requests{dynamo_endpoint="generate"}``."""
        return series_text(metric, self.labels_of(metric))

    def candidates(self) -> tuple[tuple[str, Labels], ...]:
        """Each candidate metric with its label matchers, in order."""
        return tuple((metric, self.labels_of(metric)) for metric in self.metrics)

    @property
    def extensive(self) -> bool:
        """True when values add up across series and replicas (queue depth, in-flight, rates)."""
        return self.signal in EXTENSIVE

    def describe(self) -> str:
        """``rate(dynamo_frontend_requests_total)`` style, for the dashboard's signal legend."""
        if self.promql:
            return self.promql
        names = " | ".join(self.series(m) for m in self.metrics)
        if self.kind is Kind.GAUGE:
            return names
        if self.kind is Kind.QUANTILE:
            return f"p{round(self.quantile * 100)}({names})"
        return f"{self.kind.value}({names})"


def _spec(
    signal: Signal, *metrics: str, kind: Kind = Kind.GAUGE, where: Mapping[str, Labels] | None = None
) -> SignalSpec:
    return SignalSpec(signal, metrics, kind, where=tuple((where or {}).items()))


#: a Dynamo worker's request-serving endpoint: its ``dynamo_component_*`` series are per endpoint
_GENERATE: Labels = (("dynamo_endpoint", "generate"),)
_ON_GENERATE = {
    "dynamo_component_inflight_requests": _GENERATE,
    "dynamo_component_requests_total": _GENERATE,
}


_QUANTILES = {
    "ttft": ((Signal.TTFT_P50, 0.5), (Signal.TTFT_P95, 0.95), (Signal.TTFT_P99, 0.99)),
    "itl": ((Signal.ITL_P50, 0.5), (Signal.ITL_P95, 0.95), (Signal.ITL_P99, 0.99)),
}
QUANTILE_OF: dict[Signal, float] = {signal: q for pairs in _QUANTILES.values() for signal, q in pairs}


def _latency(kind: str, *metrics: str) -> tuple[SignalSpec, ...]:
    """p50, p95 and p99 of a latency histogram (``kind`` is ``ttft`` or ``itl``)."""
    return tuple(SignalSpec(signal, metrics, Kind.QUANTILE, q) for signal, q in _QUANTILES[kind])


_VLLM_LATENCY = (
    *_latency("ttft", "vllm:time_to_first_token_seconds"),
    *_latency("itl", "vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
)
_KV = _spec(Signal.KV_USAGE, "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
_COMPONENT_RATE = _spec(Signal.REQUEST_RATE, "dynamo_component_requests_total", kind=Kind.RATE, where=_ON_GENERATE)

_DYNAMO: dict[str, tuple[SignalSpec, ...]] = {
    "frontend": (
        _spec(Signal.QUEUE_DEPTH, "dynamo_frontend_queued_requests"),
        _spec(Signal.INFLIGHT, "dynamo_frontend_inflight_requests"),
        _spec(Signal.REQUEST_RATE, "dynamo_frontend_requests_total", kind=Kind.RATE),
        *_latency("ttft", "dynamo_frontend_time_to_first_token_seconds"),
        *_latency("itl", "dynamo_frontend_inter_token_latency_seconds"),
        _spec(Signal.ISL, "dynamo_frontend_input_sequence_tokens", kind=Kind.MEAN),
        _spec(Signal.OSL, "dynamo_frontend_output_sequence_tokens", kind=Kind.MEAN),
    ),
    # A prefill-only worker (Dynamo's mocker, or an engine without vLLM's gauges) has no vllm:*
    # series: its queue is then its requests in flight on the generate endpoint.
    "prefill": (
        _spec(
            Signal.QUEUE_DEPTH, "vllm:num_requests_waiting", "dynamo_component_inflight_requests", where=_ON_GENERATE
        ),
        _spec(Signal.INFLIGHT, "dynamo_component_inflight_requests", "vllm:num_requests_running", where=_ON_GENERATE),
        _spec(Signal.WAITING, "vllm:num_requests_waiting"),
        _KV,
        _COMPONENT_RATE,
        *_VLLM_LATENCY,
    ),
    "decode": (
        _KV,
        _spec(Signal.WAITING, "vllm:num_requests_waiting"),
        _spec(Signal.QUEUE_DEPTH, "vllm:num_requests_waiting"),
        _spec(Signal.INFLIGHT, "vllm:num_requests_running", "dynamo_component_inflight_requests", where=_ON_GENERATE),
        _COMPONENT_RATE,
        *_VLLM_LATENCY,
    ),
    "other": (
        _spec(Signal.INFLIGHT, "dynamo_component_inflight_requests"),
        _COMPONENT_RATE,
    ),
}
_DYNAMO["worker"] = _DYNAMO["decode"]  # aggregated prefill+decode worker: a vLLM engine

_VLLM_ENGINE = (
    _KV,
    _spec(Signal.WAITING, "vllm:num_requests_waiting"),
    _spec(Signal.QUEUE_DEPTH, "vllm:num_requests_waiting"),
    _spec(Signal.INFLIGHT, "vllm:num_requests_running"),
    _spec(Signal.REQUEST_RATE, "vllm:request_success_total", kind=Kind.RATE),
    *_VLLM_LATENCY,
    _spec(Signal.ISL, "vllm:request_prompt_tokens", kind=Kind.MEAN),
    _spec(Signal.OSL, "vllm:request_generation_tokens", kind=Kind.MEAN),
)
_VLLM: dict[str, tuple[SignalSpec, ...]] = {"other": _VLLM_ENGINE}

#: the signals of each of config's SIGNAL_PRESETS, by role
_PRESETS: dict[str, dict[str, tuple[SignalSpec, ...]]] = {"dynamo": _DYNAMO, "vllm": _VLLM}


def preset_specs(preset: str, role: str) -> dict[Signal, SignalSpec]:
    """The signals of a component with ``role`` under ``preset`` (one of :data:`SIGNAL_PRESETS`)."""
    try:
        roles = _PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown signal preset {preset!r}; known presets: {', '.join(SIGNAL_PRESETS)}") from None
    specs = roles.get(role, roles["other"])
    return {spec.signal: spec for spec in specs}


def is_metric_name(text: str) -> bool:
    """True for a plain metric name (``vllm:num_requests_waiting``), False for a PromQL expression."""
    return bool(_METRIC_NAME.match(text))


def _histogram_base(name: str) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def spec_from_override(signal: Signal, text: str) -> SignalSpec:
    """A spec from a graph file's override: a metric name (kind inferred) or a PromQL expression."""
    text = text.strip()
    if not text:
        raise ValueError(f"the override of signal {signal.value!r} is empty; give a metric name or PromQL")
    if not is_metric_name(text):
        return SignalSpec(signal, (), Kind.GAUGE, promql=text)
    if signal in QUANTILE_OF:
        return SignalSpec(signal, (_histogram_base(text),), Kind.QUANTILE, QUANTILE_OF[signal])
    if signal in (Signal.ISL, Signal.OSL):
        return SignalSpec(signal, (_histogram_base(text),), Kind.MEAN)
    if signal is Signal.REQUEST_RATE or text.endswith("_total"):
        return SignalSpec(signal, (text,), Kind.RATE)
    return SignalSpec(signal, (text,), Kind.GAUGE)


def component_specs(preset: str, role: str, overrides: Mapping[Signal, str] | None = None) -> dict[Signal, SignalSpec]:
    """The preset's signals for ``role`` with the component's ``overrides`` applied."""
    specs = preset_specs(preset, role)
    for signal, text in (overrides or {}).items():
        specs[Signal(signal)] = spec_from_override(Signal(signal), text)
    return specs
