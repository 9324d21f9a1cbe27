"""Theme files: TOML files in ``planner_tui/tui/themes/`` (the repository's ``themes/``) and in the user's
``config_dir()/themes/``, loaded next to Textual's built-in themes."""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from textual.theme import BUILTIN_THEMES, Theme

from planner_tui.config import config_dir

log = logging.getLogger(__name__)

DEFAULT_THEME = "planner-midnight"
_COLOURS = ("primary", "secondary", "accent", "foreground", "background", "surface", "panel", "boost",
            "warning", "error", "success")  # fmt: skip


class ThemeFileError(ValueError):
    """A theme file that cannot be used; the message names the file and the problem."""


def bundled_theme_dir() -> Path:
    """The themes shipped with the package."""
    return Path(str(resources.files("planner_tui.tui").joinpath("themes")))


def user_theme_dir() -> Path:
    """Where a user can drop more theme files."""
    return config_dir() / "themes"


def parse_theme(path: Path) -> Theme:
    """A Textual Theme from a TOML file with ``name``, ``primary`` (required) and the other colours."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ThemeFileError(f"{path}: cannot read the theme: {exc}") from exc
    name, primary = data.get("name"), data.get("primary")
    if not isinstance(name, str) or not isinstance(primary, str):
        raise ThemeFileError(f"{path}: a theme needs 'name' and 'primary' strings, e.g. primary = \"#4F9CF9\"")
    unknown = set(data) - {"name", "dark", "variables", *_COLOURS}
    if unknown:
        raise ThemeFileError(f"{path}: unknown keys {sorted(unknown)}; allowed: name, dark, variables, {_COLOURS}")
    colours = {key: data[key] for key in _COLOURS if key in data}
    variables = {str(k): str(v) for k, v in data.get("variables", {}).items()}
    try:
        return Theme(name=name, dark=bool(data.get("dark", True)), variables=variables, **colours)
    except Exception as exc:  # Theme validates colours lazily; surface any problem with the file name
        raise ThemeFileError(f"{path}: {exc}") from exc


def load_theme_files(directories: Iterable[Path] | None = None) -> list[Theme]:
    """Every readable theme in ``directories`` (default: bundled, then user); bad files are logged and skipped."""
    themes: list[Theme] = []
    for directory in directories if directories is not None else (bundled_theme_dir(), user_theme_dir()):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                themes.append(parse_theme(path))
            except ThemeFileError as exc:
                log.warning("%s", exc)
    return themes


def available_theme_names(themes: Iterable[Theme] | None = None) -> list[str]:
    """Textual's built-in theme names and the theme files' names, sorted."""
    names = set(BUILTIN_THEMES)
    names.update(theme.name for theme in (themes if themes is not None else load_theme_files()))
    return sorted(names)
