"""Graph files that validated but broke at run time (issue 11, item 14): each is one clear line now."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from planner_tui.config import ConfigError, ReplicaContext, parse_graph
from planner_tui.config.commands import check_commands, command_problems
from planner_tui.config.graph import MAX_COMPONENTS, topological_order

BASE = """
namespace = "ns"
[components.worker]
role = "worker"
command = "{python}"
args = ["-c", "pass"]
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_graph(text, "graph.toml")
    return info.value.lines()


def chain(length: int) -> str:
    parts = ['namespace = "ns"']
    for i in range(length):
        dep = f'depends_on = ["c{i - 1}"]\n' if i else ""
        parts.append(f'[components.c{i}]\nrole = "worker"\ncommand = "{{python}}"\n{dep}')
    return "\n".join(parts)


def test_a_long_depends_on_chain_is_refused_by_count_not_by_recursion() -> None:
    assert problems(chain(3000)) == [
        f"graph.toml: components: at most {MAX_COMPONENTS} components, got 3000; split the graph"
    ]


def test_the_longest_allowed_chain_validates_and_orders_dependencies_first() -> None:
    graph = parse_graph(chain(MAX_COMPONENTS))
    assert graph.dependency_order() == [f"c{i}" for i in range(MAX_COMPONENTS)]


def test_cycle_and_order_checks_are_iterative() -> None:
    deps = {f"n{i}": [f"n{i + 1}"] if i < 20000 else [] for i in range(20001)}
    order = topological_order(deps)
    assert order[0] == "n20000" and order[-1] == "n0" and len(order) == 20001
    deps["n20000"] = ["n0"]
    with pytest.raises(ValueError, match="dependency cycle: n0 -> n1 -> "):
        topological_order(deps)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://[::1", "expected an http:// or https:// URL with a host, got 'http://[::1': Invalid IPv6 URL"),
        ("file:///etc/passwd", "only http and https URLs are allowed, got 'file:///etc/passwd'"),
        ("http://:{port}/metrics", "the URL has no host, got 'http://:{port}/metrics'"),
        ("http://127.0.0.1:99999/metrics", "expected an http:// or https:// URL with a host"),
    ],
)
def test_urls_are_parsed_after_rendering(url: str, expected: str) -> None:
    (line,) = problems(BASE + f'metrics_url = "{url}"\n')
    assert line.startswith("graph.toml: components.worker.metrics_url: " + expected)
    (line,) = problems(BASE + f'health_url = "{url}"\n')
    assert line.startswith("graph.toml: components.worker.health_url: ")


def test_metrics_table_urls_must_be_http() -> None:
    (line,) = problems(BASE + '[metrics]\ngpu_metrics_urls = ["file:///etc/passwd"]\n')
    assert line == (
        "graph.toml: metrics.gpu_metrics_urls[0]: only http and https URLs are allowed, got 'file:///etc/passwd'"
    )
    (line,) = problems(BASE + '[metrics]\nprometheus_url = "http://[::1"\n')
    assert line.startswith("graph.toml: metrics.prometheus_url: expected an http:// or https:// URL")


def test_two_components_with_one_fixed_port() -> None:
    text = BASE + 'port = 21080\n[components.other]\nrole = "other"\ncommand = "{python}"\nport = 21080\n'
    assert problems(text) == ["graph.toml: components.other.port: 21080 is already the fixed port of 'worker'"]
    exporter = BASE + "port = 21080\n[planner]\nexporter_port = 21080\n"
    assert problems(exporter) == [
        "graph.toml: planner.exporter_port: 21080 is already the fixed port of 'worker'",
    ]


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
@pytest.mark.parametrize(
    "key",
    ["planner.adjustment_interval_s", "planner.ttft_target_ms", "metrics.interval_s", "metrics.history_s"],
)
def test_floats_must_be_finite(key: str, value: str) -> None:
    table, name = key.split(".")
    (line,) = problems(BASE + f"[{table}]\n{name} = {value}\n")
    assert line == f"graph.toml: {key}: expected a finite number, got {float(value)!r}"


def test_component_floats_must_be_finite() -> None:
    (line,) = problems(BASE + "graceful_timeout_s = nan\n")
    assert line == "graph.toml: components.worker.graceful_timeout_s: expected a finite number, got nan"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max_replicas = 100000000000000000000000\n", "components.worker.max_replicas: must be <= 4096"),
        ("min_replicas = 5000\nmax_replicas = 5000\n", "components.worker.min_replicas: must be <= 4096"),
        ("gpus_per_replica = 100000\n", "components.worker.gpus_per_replica: must be <= 1024"),
        ("max_crash_restarts = 100000000\n", "components.worker.max_crash_restarts: must be <= 1000"),
        ("[planner]\nmax_gpu_budget = 100000000000000000000000\n", "planner.max_gpu_budget: must be <= 65536"),
        ("[planner]\nadjustment_interval_s = 1e300\n", "planner.adjustment_interval_s: must be <= 3600"),
        ("[metrics]\ninterval_s = 1e300\n", "metrics.interval_s: must be <= 3600"),
    ],
)
def test_counts_and_durations_are_bounded(text: str, expected: str) -> None:
    line = problems(BASE + text)[0]
    assert line.startswith("graph.toml: " + expected), line


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("{port:>100000000}", "format specs are not allowed in placeholders: {port:>100000000}"),
        ("{port!r}", "conversions are not allowed in placeholders: {port!r}"),
        ("{ports.x.__class__}", "unknown placeholder {ports.x.__class__}"),
        ("{ports[x]}", "unknown placeholder {ports[x]}"),
        ("{}", "unknown placeholder {}"),
        ("{replica:{port}}", "format specs are not allowed in placeholders: {replica:{port}}"),
    ],
)
def test_placeholders_are_bare_names_only(arg: str, expected: str) -> None:
    (line,) = problems(BASE.replace('args = ["-c", "pass"]', f'args = ["{arg}"]'))
    assert line.startswith("graph.toml: components.worker.args: " + expected), line


def test_rendering_refuses_specs_even_when_not_validated() -> None:
    ctx = ReplicaContext(namespace="ns", component="c", replica=0, port=21000)
    with pytest.raises(ValueError, match="format specs are not allowed"):
        ctx.render("{port:>100000000}")
    with pytest.raises(ValueError, match="unknown placeholder"):
        ctx.render("{ports.x.__class__}")
    assert ctx.render("{port}") == "21000"


def test_a_missing_command_is_a_problem_of_config_check(tmp_path: Path) -> None:
    graph = parse_graph(BASE.replace('"{python}"', '"no-such-command-planner-tui"'))
    (problem,) = command_problems(graph, str(tmp_path))
    assert problem.key_path == "components.worker.command"
    assert problem.message.startswith("executable 'no-such-command-planner-tui' not found on PATH")
    with pytest.raises(ConfigError):
        check_commands(graph, "graph.toml", str(tmp_path))


def test_commands_resolve_like_the_connector_does(tmp_path: Path) -> None:
    assert command_problems(parse_graph(BASE), str(tmp_path)) == []
    script = tmp_path / "tool.sh"
    script.write_text("#!/bin/sh\n")
    graph = parse_graph(BASE.replace('"{python}"', '"./tool.sh"'))
    (problem,) = command_problems(graph, str(tmp_path))
    assert problem.message == f"{f'{tmp_path}/./tool.sh'!r} is not an executable file"
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    assert command_problems(graph, str(tmp_path)) == []
    bad_dir = parse_graph(BASE + f'working_dir = "{tmp_path / "absent"}"\n')
    (problem,) = command_problems(bad_dir, str(tmp_path))
    assert problem.key_path == "components.worker.working_dir"
    on_path = parse_graph(BASE.replace('"{python}"', '"tool.sh"') + f'env = {{PATH = "{tmp_path}"}}\n')
    assert command_problems(on_path, "/") == []
