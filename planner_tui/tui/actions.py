"""The one registry of dashboard actions: it drives key bindings, the footer, the help screen, the
command palette and read-only mode (k9s style: every action says whether it changes anything)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True, slots=True)
class DashboardAction:
    """One thing a person can do on the main screen.

    ``id`` is the action name (``action_<id>`` on the screen), ``keys`` Textual key names (comma
    separated), ``changes_state`` marks actions that change the graph or the planner: read-only mode
    hides and refuses them.
    """

    id: str
    keys: str
    description: str
    help: str
    group: str
    changes_state: bool = False
    key_display: str | None = None
    show: bool = True

    @property
    def display_key(self) -> str:
        """How the key is written in the help screen."""
        return self.key_display or self.keys.split(",")[0]


#: Main-screen actions, in footer order.
ACTIONS: tuple[DashboardAction, ...] = (
    DashboardAction("next_component", "down,j", "next", "Select the next component", "Navigate", key_display="↓/j",
                    show=False),
    DashboardAction("previous_component", "up,k", "previous", "Select the previous component", "Navigate",
                    key_display="↑/k", show=False),
    DashboardAction("scale_up", "plus,equals_sign", "+1", "Scale the selected component up by one replica (pins it)",
                    "Scale", changes_state=True, key_display="+"),
    DashboardAction("scale_down", "minus", "-1", "Scale the selected component down by one replica (pins it)",
                    "Scale", changes_state=True, key_display="-"),
    DashboardAction("scale_dialog", "s", "scale", "Scale to a chosen count (dialog pre-filled with the current one)",
                    "Scale", changes_state=True),
    DashboardAction("restart", "r", "restart", "Restart the selected component's replicas, one at a time (asks first)",
                    "Scale", changes_state=True),
    DashboardAction("toggle_pin", "p", "pin", "Pin the selected component at its current count, or unpin it",
                    "Planner", changes_state=True),
    DashboardAction("cycle_mode", "m", "mode", "Cycle the planner mode: AUTO -> ADVISORY -> PAUSED",
                    "Planner", changes_state=True),
    DashboardAction("logs", "l", "logs", "Tail the selected component's logs (all replicas merged)", "View"),
    DashboardAction("details", "d", "details", "Details: decision history, signals, config, neighbours", "View"),
    DashboardAction("gpu_details", "G", "GPUs", "GPU details: processes and their replicas, MIG devices, throttle "
                    "reasons, ECC errors", "View", show=False),
    DashboardAction("cycle_window", "w", "window", "Chart window: 1 / 5 / 15 minutes", "View", show=False),
    DashboardAction("charts", "g", "charts", "Charts: replicas, each policy's figure and thresholds, decisions over "
                    "time (5 min / 1 h / all)", "View", show=False),
    DashboardAction("filter", "slash", "filter", "Filter components and replicas by name, role or phase", "View",
                    key_display="/"),
    DashboardAction("raise_load", "L", "load+", "Demo: raise the simulated request rate (x1.5)", "Demo",
                    changes_state=True, show=False),
    DashboardAction("lower_load", "H", "load-", "Demo: lower the simulated request rate (x0.67)", "Demo",
                    changes_state=True, show=False),
)  # fmt: skip

#: App-wide actions (run on the App): help, palette, quit.
APP_ACTIONS: tuple[DashboardAction, ...] = (
    DashboardAction("help", "question_mark", "help", "This help", "App", key_display="?"),
    DashboardAction("command_palette", "ctrl+p", "palette", "Command palette (actions, themes)", "App",
                    key_display="ctrl+p", show=False),
    DashboardAction("quit", "q", "quit", "Quit: stop the graph or leave it running", "App"),
)  # fmt: skip

#: Keys of the log screen (shown in the help screen too).
LOG_ACTIONS: tuple[DashboardAction, ...] = (
    DashboardAction("toggle_follow", "s,f", "follow", "Follow new lines / pause (scrolling up pauses)", "Logs",
                    key_display="s/f"),
    DashboardAction("toggle_wrap", "w", "wrap", "Wrap long lines", "Logs"),
    DashboardAction("toggle_timestamps", "t", "time", "Show timestamps", "Logs"),
    DashboardAction("search", "slash", "search", "Search: matches highlighted with 2 lines of context", "Logs",
                    key_display="/"),
    DashboardAction("save", "ctrl+s", "save", "Save the merged log to a file", "Logs", key_display="ctrl+s"),
    DashboardAction("back", "escape,q", "back", "Back to the dashboard (clears the search first)", "Logs",
                    key_display="esc"),
)  # fmt: skip

READ_ONLY_REASON = "the dashboard runs read-only (--read-only): actions that change the graph are disabled"


def find(action_id: str) -> DashboardAction:
    """The registered action called ``action_id``."""
    for action in (*ACTIONS, *APP_ACTIONS, *LOG_ACTIONS):
        if action.id == action_id:
            return action
    raise KeyError(f"unknown dashboard action {action_id!r}")


def allowed(action: DashboardAction, read_only: bool) -> bool:
    """True when ``action`` may run: everything, except state changes in read-only mode."""
    return not (read_only and action.changes_state)


def bindings(actions: Iterable[DashboardAction], read_only: bool = False) -> list[Binding]:
    """Key bindings for ``actions``. In read-only mode changing actions stay bound (so the key gets a
    refusal with a reason) but are hidden from the footer."""
    return [
        Binding(
            a.keys,
            a.id,
            a.description,
            show=a.show and allowed(a, read_only),
            key_display=a.key_display,
            id=f"planner-tui.{a.id}",
        )
        for a in actions
    ]


def refusal(action: DashboardAction, owner: str | None = None) -> str:
    """The message shown when a changing action is refused in read-only mode.

    ``owner`` describes the process that owns the graph when this dashboard only observes it.
    """
    if owner is not None:
        return f"'{action.help}' refused: this dashboard observes a graph owned by {owner}; act there"
    return f"'{action.help}' refused: {READ_ONLY_REASON}"
