"""Graph-file keys that make a real graph easier to set up: ``[env]``, ``python``, ``ready_timeout_s``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from planner_tui.config import ConfigError, parse_graph
from planner_tui.config.commands import command_problems

GRAPH = """
namespace = "ns"
{top}
[env]
DYN_DISCOVERY_BACKEND = "file"
SHARED = "{{namespace}}-{{component}}"
{graph_env}

[components.frontend]
role = "frontend"
command = "{{python}}"
port = 21500

[components.decode]
role = "decode"
command = "{{python}}"
depends_on = ["frontend"]
{decode}
"""


def graph_text(top: str = "", graph_env: str = "", decode: str = "") -> str:
    return GRAPH.format(top=top, graph_env=graph_env, decode=decode)


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_graph(text, "graph.toml")
    return info.value.lines()


def test_graph_env_is_shared_and_a_components_env_overrides_it() -> None:
    graph = parse_graph(graph_text(decode='env = { SHARED = "own", EXTRA = "{port}" }'))
    assert graph.component_env("frontend") == {"DYN_DISCOVERY_BACKEND": "file", "SHARED": "{namespace}-{component}"}
    assert graph.component_env("decode") == {"DYN_DISCOVERY_BACKEND": "file", "SHARED": "own", "EXTRA": "{port}"}


def test_graph_env_placeholders_are_checked_like_a_components() -> None:
    (line,) = problems(graph_text(graph_env='BAD = "{gpu}"'))
    assert line.startswith("graph.toml: env: unknown placeholder {gpu}")
    (line,) = problems(graph_text(graph_env='PEER = "{ports.nope}"'))
    assert "{ports.nope} names an unknown component" in line
    assert parse_graph(graph_text(graph_env='FRONT = "http://127.0.0.1:{ports.frontend}"'))


def test_python_defaults_to_planner_tuis_own_and_can_name_a_venv(tmp_path: Path) -> None:
    graph = parse_graph(graph_text())
    assert graph.python is None and graph.python_path() == sys.executable
    assert graph.sample_context("decode").render("{python}") == sys.executable
    venv = parse_graph(graph_text(top='python = "~/venvs/dynamo/bin/python"'))
    expected = str(Path("~/venvs/dynamo/bin/python").expanduser())
    assert venv.python_path() == expected and venv.sample_context("decode").render("{python}") == expected
    relative = parse_graph(graph_text(top='python = "venv/bin/python"'))
    assert relative.python_path(str(tmp_path)) == str(tmp_path / "venv" / "bin" / "python")
    assert parse_graph(graph_text(top='python = "python3"')).python_path() == "python3"  # looked up on PATH


def test_python_is_a_plain_path() -> None:
    (line,) = problems(graph_text(top='python = "{python}"'))
    assert line.startswith("graph.toml: python: must be a path to an interpreter, without placeholders")
    (line,) = problems(graph_text(top='python = ""'))
    assert line.startswith("graph.toml: python:")


def test_config_check_names_a_python_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "venv" / "bin" / "python"
    graph = parse_graph(graph_text(top=f'python = "{missing}"'))
    found = [p.format("graph.toml") for p in command_problems(graph, str(tmp_path))]
    assert found[0].startswith(f"graph.toml: python: executable '{missing}' does not exist")
    assert any(p.startswith("graph.toml: components.decode.command:") for p in found)
    ok = tmp_path / "ok-python"
    ok.symlink_to(sys.executable)
    assert command_problems(parse_graph(graph_text(top=f'python = "{ok}"')), str(tmp_path)) == []


def test_ready_timeout_has_a_sane_default_and_bounds() -> None:
    graph = parse_graph(graph_text(decode="ready_timeout_s = 30"))
    assert graph.components["decode"].ready_timeout_s == 30
    assert graph.components["frontend"].ready_timeout_s == 120
    (line,) = problems(graph_text(decode="ready_timeout_s = 0"))
    assert line == "graph.toml: components.decode.ready_timeout_s: must be > 0.0, got 0"


def test_no_gpus_declared() -> None:
    text = graph_text() + "\n[resources]\ngpus = []\n"
    assert parse_graph(text).resources.gpus == []
