"""Dashboard screens and dialogs, one per module."""

from planner_tui.tui.screens.confirm_dialog import ConfirmDialog
from planner_tui.tui.screens.details_screen import DetailsScreen
from planner_tui.tui.screens.help_screen import HelpScreen
from planner_tui.tui.screens.log_screen import LogScreen
from planner_tui.tui.screens.main_screen import MainScreen
from planner_tui.tui.screens.quit_dialog import QuitChoice, QuitDialog
from planner_tui.tui.screens.scale_dialog import ScaleDialog

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
