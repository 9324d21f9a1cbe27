"""Where planner-tui keeps state (state files, logs, audit logs) and user configuration."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import platformdirs

STATE_DIR_ENV = "PLANNER_TUI_STATE_DIR"
CONFIG_DIR_ENV = "PLANNER_TUI_CONFIG_DIR"


def state_dir() -> Path:
    """The state directory: ``$PLANNER_TUI_STATE_DIR``, else the XDG state dir (``~/.local/state``)."""
    override = os.environ.get(STATE_DIR_ENV)
    path = Path(override) if override else platformdirs.user_state_path("planner-tui")
    return path.expanduser().absolute()


def config_dir() -> Path:
    """The user config directory: ``$PLANNER_TUI_CONFIG_DIR``, else the XDG config dir."""
    override = os.environ.get(CONFIG_DIR_ENV)
    path = Path(override) if override else platformdirs.user_config_path("planner-tui")
    return path.expanduser().absolute()


def demo_graph_path() -> Path:
    """The embedded demo graph, used when no ``--graph`` is given (``examples/demo.toml``)."""
    return Path(str(resources.files("planner_tui.config").joinpath("demo.toml")))
