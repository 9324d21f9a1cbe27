"""The simulated frontend's control client, for the sim's own commands: see :mod:`planner_tui.loadcontrol.client`."""

from planner_tui.loadcontrol.client import (
    DEFAULT_TIMEOUT_S,
    SimControlError,
    get_profile,
    get_stats,
    scale_load,
    set_profile,
)
from planner_tui.loadcontrol.locate import load_control_url

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "SimControlError",
    "get_profile",
    "get_stats",
    "load_control_url",
    "scale_load",
    "set_profile",
]
