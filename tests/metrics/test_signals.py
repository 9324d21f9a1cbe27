"""Signal presets per role and graph-file overrides."""

from __future__ import annotations

import pytest

from planner_tui.config import parse_graph
from planner_tui.metrics.prometheus import build_promql
from planner_tui.metrics.signals import Kind, component_specs, preset_specs, spec_from_override
from planner_tui.model import Signal


def test_dynamo_preset_reads_the_upstream_names() -> None:
    frontend = preset_specs("dynamo", "frontend")
    assert frontend[Signal.QUEUE_DEPTH].metrics == ("dynamo_frontend_queued_requests",)
    assert frontend[Signal.REQUEST_RATE].kind is Kind.RATE
    assert frontend[Signal.TTFT_P95].metrics == ("dynamo_frontend_time_to_first_token_seconds",)
    decode = preset_specs("dynamo", "decode")
    assert decode[Signal.KV_USAGE].metrics[0] == "vllm:kv_cache_usage_perc"
    assert decode[Signal.WAITING].metrics == ("vllm:num_requests_waiting",)
    prefill = preset_specs("dynamo", "prefill")
    assert "dynamo_component_inflight_requests" in prefill[Signal.QUEUE_DEPTH].metrics  # no vllm gauges
    assert preset_specs("dynamo", "router")[Signal.INFLIGHT].metrics == ("dynamo_component_inflight_requests",)


def test_vllm_preset_uses_vllm_names_for_every_role() -> None:
    specs = preset_specs("vllm", "decode")
    assert specs[Signal.REQUEST_RATE].metrics == ("vllm:request_success_total",)
    assert all(m.startswith("vllm:") for spec in specs.values() for m in spec.metrics)


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="dynamo, vllm"):
        preset_specs("sglang", "decode")


def test_latency_histograms_give_p50_p95_and_p99() -> None:
    frontend = preset_specs("dynamo", "frontend")
    assert [frontend[s].quantile for s in (Signal.TTFT_P50, Signal.TTFT_P95, Signal.TTFT_P99)] == [0.5, 0.95, 0.99]
    assert frontend[Signal.ITL_P99].metrics == ("dynamo_frontend_inter_token_latency_seconds",)
    assert spec_from_override(Signal.ITL_P50, "itl_seconds").quantile == 0.5


@pytest.mark.parametrize(
    ("signal", "text", "kind", "metric"),
    [
        (Signal.KV_USAGE, "my_kv", Kind.GAUGE, "my_kv"),
        (Signal.REQUEST_RATE, "reqs", Kind.RATE, "reqs"),
        (Signal.INFLIGHT, "served_total", Kind.RATE, "served_total"),
        (Signal.TTFT_P95, "ttft_seconds_bucket", Kind.QUANTILE, "ttft_seconds"),
        (Signal.ISL, "isl_tokens", Kind.MEAN, "isl_tokens"),
    ],
)
def test_override_kind_is_inferred_from_the_signal_and_name(signal: Signal, text: str, kind: Kind, metric: str) -> None:
    spec = spec_from_override(signal, text)
    assert spec.kind is kind and spec.metrics == (metric,)


def test_graph_file_overrides_one_signal_and_keeps_the_rest() -> None:
    graph = parse_graph(
        """
namespace = "ns"
[components.decode]
role = "decode"
command = "worker"
signals = { kv_usage = "engine_kv_fraction", queue_depth = "sum(my_queue{$selector})" }
""",
        "graph.toml",
    )
    specs = component_specs("dynamo", "decode", graph.components["decode"].signals)
    assert specs[Signal.KV_USAGE].metrics == ("engine_kv_fraction",)
    assert specs[Signal.QUEUE_DEPTH].promql == "sum(my_queue{$selector})"
    assert specs[Signal.WAITING].metrics == ("vllm:num_requests_waiting",)


def test_promql_built_for_each_kind() -> None:
    specs = preset_specs("dynamo", "frontend")
    sel = 'c="fe"'
    assert build_promql(specs[Signal.QUEUE_DEPTH], sel, 10, 60) == 'sum(dynamo_frontend_queued_requests{c="fe"})'
    assert (
        build_promql(specs[Signal.REQUEST_RATE], sel, 10, 60)
        == 'sum(rate(dynamo_frontend_requests_total{c="fe"}[10s]))'
    )
    assert build_promql(specs[Signal.TTFT_P95], sel, 10, 60) == (
        'histogram_quantile(0.95, sum by (le) (rate(dynamo_frontend_time_to_first_token_seconds_bucket{c="fe"}[60s])))'
    )
    kv = preset_specs("dynamo", "decode")[Signal.KV_USAGE]
    assert (
        build_promql(kv, sel, 10, 60)
        == 'avg(vllm:kv_cache_usage_perc{c="fe"}) or avg(vllm:gpu_cache_usage_perc{c="fe"})'
    )
    override = spec_from_override(Signal.QUEUE_DEPTH, "max(q{$selector}[$window])")
    assert build_promql(override, sel, 10, 30) == 'max(q{c="fe"}[30s])'


def test_one_invalid_replica_value_marks_the_component_value_invalid() -> None:
    """A mean of 1.5 and 0.1 would look like a valid 0.8: the aggregate names the bad replica instead."""
    from planner_tui.metrics.endpoints import aggregate
    from planner_tui.metrics.signals import preset_specs
    from planner_tui.model import Signal, SignalValue

    spec = preset_specs("vllm", "decode")[Signal.KV_USAGE]
    values = [
        SignalValue("decode", Signal.KV_USAGE, 1.5, 1.0, replica="decode-0"),
        SignalValue("decode", Signal.KV_USAGE, 0.1, 1.0, replica="decode-1"),
    ]
    total = aggregate(spec, "decode", values, [])
    assert total is not None and total.invalid == "decode-0: outside 0..1"
    assert aggregate(spec, "decode", values[1:], []).invalid is None  # type: ignore[union-attr]
