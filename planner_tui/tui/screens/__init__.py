"""Dashboard screens and dialogs, one per module.

Loaded on first use: the first frame needs only the main screen (the log screen alone pulls in
Textual's RichLog and, through rich.pretty, attrs).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner_tui.tui.screens.confirm_dialog import ConfirmDialog
    from planner_tui.tui.screens.details_screen import DetailsScreen
    from planner_tui.tui.screens.help_screen import HelpScreen
    from planner_tui.tui.screens.log_screen import LogScreen
    from planner_tui.tui.screens.main_screen import MainScreen
    from planner_tui.tui.screens.quit_dialog import QuitChoice, QuitDialog
    from planner_tui.tui.screens.scale_dialog import ScaleDialog

_WHERE = {
    "ConfirmDialog": "confirm_dialog",
    "DetailsScreen": "details_screen",
    "HelpScreen": "help_screen",
    "LogScreen": "log_screen",
    "MainScreen": "main_screen",
    "QuitChoice": "quit_dialog",
    "QuitDialog": "quit_dialog",
    "ScaleDialog": "scale_dialog",
}

__all__ = [
    "ConfirmDialog",
    "DetailsScreen",
    "HelpScreen",
    "LogScreen",
    "MainScreen",
    "QuitChoice",
    "QuitDialog",
    "ScaleDialog",
]


def __getattr__(name: str) -> Any:
    """Load a screen's module on first use (PEP 562)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
