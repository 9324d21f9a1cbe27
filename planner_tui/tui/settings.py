"""The dashboard's remembered settings in ``config_dir()/settings.toml`` (today: the chosen theme)."""

from __future__ import annotations

import logging
import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from planner_tui.config import config_dir

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.toml"


def settings_path() -> Path:
    """Where the settings live."""
    return config_dir() / SETTINGS_FILE


def load_settings() -> dict[str, Any]:
    """The settings file as a dict; {} when it is missing or unreadable (a warning is logged)."""
    path = settings_path()
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        log.warning("ignoring unreadable settings file %s: %s", path, exc)
        return {}


def remembered_theme() -> str | None:
    """The theme chosen last time, if any."""
    value = load_settings().get("dashboard", {}).get("theme")
    return value if isinstance(value, str) else None


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def remember_theme(name: str) -> None:
    """Store ``name`` as the dashboard theme, keeping other settings; written atomically."""
    settings = load_settings()
    dashboard = settings.setdefault("dashboard", {})
    if dashboard.get("theme") == name:
        return
    dashboard["theme"] = name
    lines: list[str] = []
    for key, value in settings.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {_toml_value(value)}")
    for table, values in settings.items():
        if isinstance(values, dict):
            lines.append(f"\n[{table}]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in values.items() if not isinstance(value, dict)]
    path = settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".settings-", suffix=".toml")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines).lstrip() + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot remember the theme in %s: %s", path, exc)
