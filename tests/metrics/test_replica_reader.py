"""A replica's signals read by position through its layout equal those read from its samples."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from concurrent.futures import Future

import pytest

from planner_tui.metrics.exposition import index_samples
from planner_tui.metrics.exposition_layout import TargetParser
from planner_tui.metrics.rates import HistogramPoint
from planner_tui.metrics.replica_reader import LayoutPlan, ReadPlan, ReplicaReader, ReplicaSeries
from planner_tui.metrics.signals import component_specs
from planner_tui.model.signals import Signal
from tests.metrics.metrics_target import synthetic

ROLES = ("frontend", "prefill", "decode", "worker")


def _histogram(name: str, tick: int) -> list[str]:
    bounds = ("0.01", "0.1", "1.0", "10.0", "+Inf")
    lines = [f'{name}_bucket{{le="{le}"}} {tick * (i + 1)}' for i, le in enumerate(bounds)]
    return [*lines, f"{name}_sum {tick * 0.7}", f"{name}_count {tick * len(bounds)}"]


def exposition(tick: int) -> str:
    """A worker's exposition (vLLM and Dynamo names, DCGM gauges) plus a frontend's names."""
    lines = [
        f"dynamo_frontend_queued_requests {tick % 3}",
        f"dynamo_frontend_inflight_requests {tick % 4}",
        f"dynamo_frontend_requests_total {tick * 5}",
        f"vllm:request_success_total {tick * 4}",
    ]
    for name in (
        "dynamo_frontend_time_to_first_token_seconds",
        "dynamo_frontend_inter_token_latency_seconds",
        "dynamo_frontend_input_sequence_tokens",
        "dynamo_frontend_output_sequence_tokens",
        "vllm:request_prompt_tokens",
        "vllm:request_generation_tokens",
    ):
        lines += _histogram(name, tick)
    return synthetic(9000, tick) + "\n".join(lines) + "\n"


def _same(a: dict[Signal, float], b: dict[Signal, float]) -> bool:
    return a.keys() == b.keys() and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def _increases(increases: dict[Signal, HistogramPoint]) -> dict[Signal, tuple[object, ...]]:
    return {s: (p.bounds, p.counts, p.sum, p.count) for s, p in increases.items()}


@pytest.mark.parametrize("preset", ["dynamo", "vllm"])
@pytest.mark.parametrize("role", ROLES)
def test_the_layout_path_gives_the_sample_path_values_tick_after_tick(
    preset: str, role: str, layout_compiler: Callable[[str], Future[re.Pattern[str]]]
) -> None:
    plan = ReadPlan.of(component_specs(preset, role))
    by_samples, by_layout = ReplicaSeries(), ReplicaSeries()
    reader = ReplicaReader(rate_window_s=3.0, latency_window_s=5.0)
    parser = TargetParser(layout_compiler)
    parser.read(exposition(1))
    compiling = parser.compiling  # a long text: its layout is compiled in a thread
    assert compiling is not None
    compiling.result(timeout=30)
    layout_ticks = 0
    for tick in range(1, 12):
        parsed = parser.read(exposition(tick * tick))  # growing counters, changing gauges
        now = float(tick)
        expected = reader.read(plan, index_samples(parsed.samples), by_samples, now)
        if parsed.layout is not None and parsed.values is not None:
            resolved = LayoutPlan.of(plan, parsed.layout)
            assert resolved is not None
            got = reader.read_values(resolved, parsed.values, by_layout, now)
            layout_ticks += 1
        else:
            got = reader.read(plan, parsed.by_name(), by_layout, now)
        assert _same(got[0], expected[0]), (tick, got[0], expected[0])
        assert _increases(got[1]) == _increases(expected[1])
    assert layout_ticks == 11
    # windows filled: every kind was read (a gauge, a rate, quantiles)
    assert {Signal.INFLIGHT, Signal.REQUEST_RATE, Signal.TTFT_P95} <= expected[0].keys()


def test_histograms_of_several_series_are_left_to_the_sample_path() -> None:
    text = (
        "".join(f'lat_bucket{{model="{m}",le="{le}"}} {n}\n' for m in ("a", "b") for le, n in (("0.5", 1), ("+Inf", 2)))
        + 'lat_count{model="a"} 2\nlat_count{model="b"} 2\n'
    )
    parser = TargetParser()
    parser.read(text)
    parsed = parser.read(text)
    assert parsed.layout is not None
    plan = ReadPlan.of(component_specs("dynamo", "decode", {Signal.TTFT_P95: "lat"}))
    assert LayoutPlan.of(plan, parsed.layout) is None  # bounds 0.5, +Inf, 0.5, +Inf: added up per bound
