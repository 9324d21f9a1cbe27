"""Rules the planner shares with the rest: which components it autoscales, and the signal presets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from planner_tui.config import MetricsSettings
from planner_tui.config.choices import SIGNAL_PRESETS
from planner_tui.config.rules import is_autoscaled
from planner_tui.metrics.signals import preset_specs
from planner_tui.model import Signal
from planner_tui.planner import EngineConfig, PlannerState, plan
from tests.planner.builders import graph_state, make_graph, snapshot


def test_a_frontend_with_bounds_and_no_policy_is_not_autoscaled() -> None:
    graph = make_graph(frontend={"min_replicas": 1, "max_replicas": 3})
    assert not is_autoscaled(graph.components["frontend"], graph.planner.policy)
    assert EngineConfig.of(graph).autoscaled == ["prefill", "decode"]
    decision, _ = plan(snapshot(graph, 100.0, graph_state(graph)), PlannerState(), graph, 100.0)
    assert decision.for_component("frontend") is None


def test_a_frontend_with_its_own_policy_and_workers_set_to_none() -> None:
    graph = make_graph(
        frontend={"policy": "target", "target_signal": "inflight", "target_value": 4, "max_replicas": 3},
        prefill={"policy": "none"},
    )
    assert is_autoscaled(graph.components["frontend"], graph.planner.policy)
    assert not is_autoscaled(graph.components["prefill"], graph.planner.policy)
    assert EngineConfig.of(graph).autoscaled == ["frontend", "decode"]


@pytest.mark.parametrize("preset", SIGNAL_PRESETS)
def test_every_preset_the_config_accepts_has_signals(preset: str) -> None:
    assert MetricsSettings(preset=preset).preset == preset
    assert Signal.QUEUE_DEPTH in preset_specs(preset, "prefill")


def test_a_preset_the_metrics_do_not_know_is_refused_by_the_config() -> None:
    with pytest.raises(ValidationError, match="dynamo"):
        MetricsSettings(preset="sglang")
