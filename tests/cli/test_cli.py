"""The command line as a user runs it: a real subprocess, exit codes and output, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click

from planner_tui import __version__

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planner_tui", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"planner-tui, version {__version__}"


def test_config_check_accepts_the_demo() -> None:
    result = run("config", "check", str(REPO / "examples" / "demo.toml"))
    assert result.returncode == 0, result.stderr
    assert "ok: namespace 'demo', 3 components" in result.stdout


def test_config_check_counts_one_component_in_the_singular(tmp_path: Path) -> None:
    graph = tmp_path / "graph.toml"
    graph.write_text(f'namespace = "ns"\n[components.decode]\nrole = "decode"\ncommand = "{sys.executable}"\n')
    result = run("config", "check", str(graph))
    assert result.returncode == 0, result.stderr
    assert "ok: namespace 'ns', 1 component: decode (decode, 1..1)" in result.stdout


def test_config_check_reports_each_problem_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "graph.toml"
    bad.write_text(
        'namespace = "ns"\n[components.decode]\nrole = "decode"\ncommand = "w"\n'
        "min_replicas = -1\nmax_replicas = 0\nmaxreplica = 3\n"
    )
    result = run("config", "check", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"{bad}: components.decode.min_replicas: must be >= 0, got -1",
        f"{bad}: components.decode.max_replicas: must be >= 1, got 0",
        f"{bad}: components.decode.maxreplica: unknown key; did you mean 'max_replicas'?",
    ]
    assert result.stdout == ""


def test_config_check_on_missing_file_exits_2(tmp_path: Path) -> None:
    result = run("config", "check", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "cannot read the file" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_schema_is_json_schema_of_the_graph_file() -> None:
    result = run("config", "schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "planner-tui graph file"
    assert set(schema["required"]) == {"namespace", "components"}
    component = schema["$defs"]["ComponentConfig"]
    assert component["additionalProperties"] is False
    assert "max_replicas" in component["properties"]


def test_config_check_reports_a_command_that_is_not_found(tmp_path: Path) -> None:
    bad = tmp_path / "graph.toml"
    bad.write_text('namespace = "ns"\n[components.decode]\nrole = "decode"\ncommand = "no-such-serving-binary"\n')
    result = run("config", "check", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{bad}: components.decode.command: executable 'no-such-serving-binary' not found on PATH")


def _short_flags(command: click.Command, ctx: click.Context, path: str, seen: dict[str, set[str]]) -> None:
    for param in command.params:
        if isinstance(param, click.Option):
            longs = [opt for opt in param.opts + param.secondary_opts if opt.startswith("--")]
            for short in (opt for opt in param.opts if not opt.startswith("--")):
                seen.setdefault(short, set()).update(f"{long} ({path})" for long in longs)
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            _short_flags(sub, click.Context(sub, parent=ctx, info_name=name), f"{path} {name}", seen)


def test_each_short_flag_means_one_thing_in_every_command() -> None:
    from planner_tui.cli.main import cli

    seen: dict[str, set[str]] = {}
    _short_flags(cli, click.Context(cli, info_name="planner-tui"), "planner-tui", seen)
    for short, uses in seen.items():
        assert len({use.split(" (")[0] for use in uses}) == 1, f"{short} means several things: {sorted(uses)}"
    assert {use.split(" (")[0] for use in seen["-n"]} == {"--namespace"}
    assert any("decisions" in use for use in seen["-n"]) and any("status" in use for use in seen["-n"])


def test_graph_option_without_a_command_runs_the_dashboard_on_that_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    import planner_tui.tui.run
    from planner_tui.cli.main import cli
    from planner_tui.model import PlannerMode

    graph = tmp_path / "mine.toml"
    graph.write_text((REPO / "examples" / "demo.toml").read_text().replace('namespace = "demo"', 'namespace = "mine"'))
    runs: list[tuple[str, object, dict[str, object]]] = []
    monkeypatch.setattr(planner_tui.tui.run, "run_dashboard", lambda o, **kw: runs.append((o.namespace, o.mode, kw)))
    monkeypatch.setattr("planner_tui.runtime.gc_tuning.tune_for_long_run", lambda: None)
    result = CliRunner().invoke(cli, ["--graph", str(graph), "--read-only"])
    assert result.exit_code == 0, result.output
    assert runs == [("mine", None, {"read_only": True, "theme": None})]
    result = CliRunner().invoke(cli, ["--graph", str(graph), "--advisory"])
    assert result.exit_code == 0, result.output
    assert runs[-1] == ("mine", PlannerMode.ADVISORY, {"read_only": False, "theme": None})
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 0, result.output
    assert runs[-1][0] == "demo"


def test_graph_option_without_a_command_reports_the_files_problems() -> None:
    result = run("--graph", "/nonexistent/graph.toml")
    assert result.returncode == 2
    assert "No such option" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.startswith("/nonexistent/graph.toml: ") and "cannot read the file" in result.stderr


def test_graph_option_before_a_command_says_where_it_goes(tmp_path: Path) -> None:
    result = run("--graph", str(tmp_path / "g.toml"), "status")
    assert result.returncode == 2
    assert "put it after the command, e.g. `planner-tui status --graph FILE`" in result.stderr
