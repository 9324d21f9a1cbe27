"""The dashboard on a recording (``planner-tui replay FILE``): the same panels, read-only, plus replay keys.

``space`` pauses and resumes, ``>``/``<`` change the speed (1x..60x), ``]``/``[`` seek a minute forward or
back, ``}``/``{`` ten minutes, ``home``/``end`` jump to the start or the end. After a seek the decision log
and the charts show what was known at the new position. ``g`` opens the chart screen, as in the live dashboard.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType

from planner_tui.tui.app import DashboardApp
from planner_tui.tui.replay_source import ReplaySource
from planner_tui.tui.trends import Trends

REPLAY_BINDINGS: list[BindingType] = [
    Binding("space", "replay_pause", "pause"),
    Binding("greater_than_sign", "replay_faster", "faster", key_display=">"),
    Binding("less_than_sign", "replay_slower", "slower", key_display="<"),
    Binding("right_square_bracket", "replay_seek(60)", "+1 min", key_display="]"),
    Binding("left_square_bracket", "replay_seek(-60)", "-1 min", key_display="["),
    Binding("right_curly_bracket", "replay_seek(600)", "+10 min", key_display="}", show=False),
    Binding("left_curly_bracket", "replay_seek(-600)", "-10 min", key_display="{", show=False),
    Binding("home", "replay_jump(0)", "start", show=False),
    Binding("end", "replay_jump(1)", "end", show=False),
]


class ReplayApp(DashboardApp):
    """:class:`DashboardApp` driven by a :class:`ReplaySource` (see the module's docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [*DashboardApp.BINDINGS, *REPLAY_BINDINGS]

    def __init__(self, source: ReplaySource, **kwargs: Any) -> None:
        kwargs.setdefault("clock", source.clock)
        super().__init__(source, read_only=True, close_on_quit=False, **kwargs)
        self.replay = source
        self.title = f"replay of {source.recording.path.name}"

    def action_replay_pause(self) -> None:
        """Pause or resume."""
        paused = self.replay.toggle_pause()
        self.notify("paused" if paused else f"playing at {self.replay.speed:g}x", timeout=2)
        self.main_screen.refresh_header()

    def action_replay_faster(self) -> None:
        """Speed up (up to 60x)."""
        self.notify(f"{self.replay.faster():g}x", timeout=2)
        self.main_screen.refresh_header()

    def action_replay_slower(self) -> None:
        """Slow down (down to 1x)."""
        self.notify(f"{self.replay.slower():g}x", timeout=2)
        self.main_screen.refresh_header()

    def action_replay_seek(self, seconds: float) -> None:
        """Move by ``seconds`` of recorded time; the log and charts restart from what was known there."""
        self._seek(self.replay.position + float(seconds))

    def action_replay_jump(self, end: int) -> None:
        """To the first (0) or last (1) Snapshot."""
        times = self.replay.recording.snapshot_times
        self._seek(times[-1] if end else times[0])

    def _seek(self, timestamp: float) -> None:
        self.replay.seek_to(timestamp)
        self.decisions.clear()
        self.decisions.extend(self.replay.decisions)
        self.trends = Trends()
        latest = self.replay.latest_snapshot
        roles = {name: state.spec.role for name, state in latest.components.items()}
        self.trends.backfill(self.replay.history(), roles, [gpu.index for gpu in latest.gpus])
        self._take_snapshot(latest)
        self.main_screen.refresh_view()
        self.main_screen.refresh_header()
