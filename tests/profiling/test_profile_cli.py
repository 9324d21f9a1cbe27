"""Bad input to `planner-tui profile` is refused before anything starts, naming the problem and the fix."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from planner_tui.cli.main import cli


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["profile", *args])
    return result.exit_code, result.output


def test_an_unknown_component_is_named_with_the_graph_s_components() -> None:
    code, out = run("--component", "decoder")
    assert code == 2
    assert "no component 'decoder' in the graph; it has: frontend, prefill, decode" in out


def test_a_frontend_cannot_be_profiled() -> None:
    code, out = run("--component", "frontend")
    assert code == 2 and "only prefill and decode components can be profiled" in out


def test_the_profile_is_toml_in_a_writable_directory(tmp_path: Path) -> None:
    code, out = run("--out", str(tmp_path / "profile.json"))
    assert code == 2 and "give a FILE.toml" in out
    code, out = run("--out", str(tmp_path / "missing" / "profile.toml"))
    assert code == 2 and "is not a writable directory; choose another" in out
    assert not list(tmp_path.iterdir())


def test_lengths_must_be_numbers() -> None:
    code, out = run("--isl", "256,lots")
    assert code == 2 and "expected lengths separated by commas" in out
