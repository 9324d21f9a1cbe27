"""The graph file: the demo is valid, and every kind of mistake gets one clear line naming its key."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from planner_tui.config import ConfigError, ReplicaContext, demo_graph_path, load_graph, parse_graph
from planner_tui.config.graph import Role
from planner_tui.model import PlannerMode

REPO = Path(__file__).resolve().parents[2]

MINIMAL = """
namespace = "ns"
[components.decode]
role = "decode"
command = "worker"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_graph(text, "graph.toml")
    return info.value.lines()


def test_demo_graph_is_valid_and_is_the_examples_file() -> None:
    graph = load_graph(REPO / "examples" / "demo.toml")
    assert graph.namespace == "demo"
    assert {c.role for c in graph.components.values()} == {Role.FRONTEND, Role.PREFILL, Role.DECODE}
    assert demo_graph_path().read_text() == (REPO / "examples" / "demo.toml").read_text()


def test_defaults_follow_upstream_planner() -> None:
    graph = parse_graph(MINIMAL)
    p = graph.planner
    assert (p.prefill_queue_scale_down, p.prefill_queue_scale_up) == (0.2, 5.0)
    assert (p.decode_kv_scale_down, p.decode_kv_scale_up) == (0.5, 0.9)
    assert p.decode_scale_down_grace_intervals == 3
    assert p.max_gpu_budget == 8
    assert (p.ttft_target_ms, p.itl_target_ms) == (500.0, 50.0)
    assert p.mode is PlannerMode.AUTO
    decode = graph.components["decode"]
    assert decode.effective_sub_component_type == "decode"
    assert decode.effective_initial_replicas == 1
    assert graph.metrics.interval_s == 1.0


def test_negative_unknown_key_and_max_below_min_each_get_one_line() -> None:
    lines = problems(
        """
namespace = "ns"
[components.decode]
role = "decode"
command = "worker"
min_replicas = 2
max_replicas = 1
maxreplicas = 4
[components.prefill]
role = "prefill"
command = "worker"
initial_replicas = -1
"""
    )
    assert lines == [
        "graph.toml: components.decode.max_replicas: must be >= min_replicas (2), got 1",
        "graph.toml: components.decode.maxreplicas: unknown key; did you mean 'max_replicas'?",
        "graph.toml: components.prefill.initial_replicas: must be >= 0, got -1",
    ]


def test_unknown_top_level_table_lists_what_is_allowed() -> None:
    (line,) = problems(MINIMAL + "\n[scheduler]\nx = 1\n")
    assert line.startswith("graph.toml: scheduler: unknown key; expected one of: namespace, description")


def test_wrong_types_and_enums_name_the_expected_values() -> None:
    lines = problems(
        """
namespace = "ns"
[components.decode]
role = "decoder"
command = "worker"
gpus_per_replica = "two"
[planner]
mode = "fast"
"""
    )
    assert "graph.toml: components.decode.role: expected one of 'frontend', 'router', 'prefill'" in lines[0]
    assert lines[0].endswith("got 'decoder'")
    assert lines[1] == "graph.toml: components.decode.gpus_per_replica: expected an integer, got 'two'"
    assert lines[2] == "graph.toml: planner.mode: expected one of 'auto', 'advisory' or 'paused', got 'fast'"


def test_missing_keys_and_empty_graph() -> None:
    assert problems('namespace = "ns"\n[components.decode]\nrole = "decode"\n') == [
        "graph.toml: components.decode.command: required key is missing: the executable each replica runs "
        "(the graph runs on this machine; a graph whose [connector] kind is 'kubernetes' needs none)"
    ]
    # a Kubernetes graph's components run in pods: no command
    k8s = 'namespace = "ns"\n[connector]\nkind = "kubernetes"\ndgd_name = "g"\n[components.decode]\nrole = "decode"\n'
    assert parse_graph(k8s, "graph.toml").components["decode"].command is None
    bad = 'namespace = "ns"\n[connector]\nkind = "cloud"\n[components.decode]\nrole = "decode"\ncommand = "x"\n'
    assert "connector" in problems(bad)[0] and "kubernetes" in problems(bad)[0]
    assert problems('namespace = "ns"\ncomponents = {}\n') == ["graph.toml: components: must not be empty"]


def test_placeholders_are_checked() -> None:
    (line,) = problems(MINIMAL.replace('"worker"', '"worker --port {prot}"'))
    assert "components.decode.command: unknown placeholder {prot}" in line
    assert "{port}" in line


def test_references_between_components_are_checked() -> None:
    lines = problems(
        """
namespace = "ns"
[components.a]
role = "worker"
command = "w"
args = ["--up", "http://127.0.0.1:{ports.b}"]
depends_on = ["b", "ghost"]
[components.b]
role = "frontend"
command = "f"
depends_on = ["a"]
"""
    )
    assert "graph.toml: components.a.depends_on[1]: unknown component 'ghost'; known: a, b" in lines
    assert "graph.toml: components.b.port: {ports.b} is used by 'a', so 'b' needs a fixed port" in lines
    assert "graph.toml: components: dependency cycle: a -> b -> a" in lines


def test_gpu_budget_and_inventory_must_cover_the_minimum() -> None:
    lines = problems(
        MINIMAL + "gpus_per_replica = 2\nmin_replicas = 3\nmax_replicas = 4\n"
        "[planner]\nmax_gpu_budget = 4\n[resources]\ngpus = [0, 1]\n"
    )
    assert lines == [
        "graph.toml: planner.max_gpu_budget: must cover the minimum replicas, which need 6 GPUs, got 4",
        "graph.toml: resources.gpus: 2 GPUs declared but the minimum replicas need 6",
    ]


def test_thresholds_must_be_ordered() -> None:
    (line,) = problems(MINIMAL + "[planner]\ndecode_kv_scale_up = 0.4\n")
    assert line == "graph.toml: planner.decode_kv_scale_up: must be > decode_kv_scale_down (0.5), got 0.4"


def test_target_policy_needs_signal_and_value() -> None:
    (line,) = problems(MINIMAL + 'policy = "target"\n')
    assert "components.decode: policy 'target' needs target_signal and target_value" in line


def test_invalid_toml_and_unreadable_file(tmp_path: Path) -> None:
    (line,) = problems('namespace = "ns\n')
    assert line.startswith("graph.toml: (top level): invalid TOML: ")
    assert "line 1" in line
    with pytest.raises(ConfigError) as info:
        load_graph(tmp_path / "absent.toml")
    assert info.value.lines() == [
        f"{tmp_path / 'absent.toml'}: (top level): cannot read the file: No such file or directory"
    ]


def test_replica_context_renders_templates() -> None:
    ctx = ReplicaContext(
        namespace="ns", component="decode", replica=2, port=21005, gpus=(3, 4), ports={"frontend": 21080}
    )
    assert ctx.render("{python} --port {port} --gpus {gpus} --up :{ports.frontend} {{x}}") == (
        f"{sys.executable} --port 21005 --gpus 3,4 --up :21080 {{x}}"
    )
