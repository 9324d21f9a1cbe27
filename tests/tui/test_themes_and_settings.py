"""Theme files are loaded next to Textual's themes; the chosen theme is remembered."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from textual.theme import BUILTIN_THEMES

from planner_tui.tui import settings
from planner_tui.tui.themes import (
    ThemeFileError,
    available_theme_names,
    bundled_theme_dir,
    load_theme_files,
    parse_theme,
)
from tests.tui.dashboard_fixtures import demo_app

REPO = Path(__file__).resolve().parents[2]


def test_at_least_three_theme_files_ship_and_the_repository_folder_is_the_same() -> None:
    names = {theme.name for theme in load_theme_files([bundled_theme_dir()])}
    assert {"planner-midnight", "planner-ember", "planner-paper"} <= names
    assert sorted(p.name for p in (REPO / "themes").glob("*.toml")) == sorted(
        p.name for p in bundled_theme_dir().glob("*.toml")
    )
    assert set(BUILTIN_THEMES) <= set(available_theme_names())


def test_a_bad_theme_file_names_the_file_and_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nprimry = "#fff"\n')
    with pytest.raises(ThemeFileError, match=r"bad.toml: a theme needs 'name' and 'primary'"):
        parse_theme(bad)
    bad.write_text('name = "x"\nprimary = "#fff"\nshade = 1\n')
    with pytest.raises(ThemeFileError, match=r"unknown keys \['shade'\]"):
        parse_theme(bad)
    assert load_theme_files([tmp_path]) == []  # skipped with a warning, never a crash


def test_user_theme_folder_is_loaded(isolated_dirs: Path) -> None:
    folder = isolated_dirs / "config" / "themes"
    folder.mkdir(parents=True)
    (folder / "mine.toml").write_text('name = "mine"\nprimary = "#112233"\ndark = false\n')
    assert "mine" in available_theme_names()


async def test_the_chosen_theme_is_remembered_for_the_next_start(isolated_dirs: Path) -> None:
    app = demo_app(theme="planner-ember", remember_theme=True)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "planner-ember"
        app.theme = "planner-paper"
        await pilot.pause()
    assert settings.remembered_theme() == "planner-paper"
    assert 'theme = "planner-paper"' in (isolated_dirs / "config" / "settings.toml").read_text()
    again = demo_app(remember_theme=True)
    async with again.run_test() as pilot:
        await pilot.pause()
        assert again.theme == "planner-paper"


def test_unknown_theme_on_the_command_line_lists_the_choices() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "planner_tui", "dashboard", "--theme", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown theme 'nope'; available:" in result.stderr and "planner-midnight" in result.stderr
    assert "Traceback" not in result.stderr


def test_dashboard_is_a_command_and_the_default() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "planner_tui", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and "dashboard" in result.stdout
    assert "With no command, runs the dashboard on the embedded demo graph." in result.stdout


def test_a_bad_graph_file_is_reported_before_the_dashboard_starts(tmp_path: Path) -> None:
    bad = tmp_path / "graph.toml"
    bad.write_text('namespace = "ns"\n[components.decode]\nrole = "decode"\ncommand = "w"\nmax_replicas = 0\n')
    result = subprocess.run(
        [sys.executable, "-m", "planner_tui", "dashboard", "--graph", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"{bad}: components.decode.max_replicas: must be >= 1, got 0" in result.stderr
    assert "Traceback" not in result.stderr
