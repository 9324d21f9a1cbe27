"""The chart screen's ``profile`` tab: the graph's capacity profile as measured (``planner-tui profile``).

Reads the raw sweep next to ``[planner] profile_file`` (re-read only when the file changes) and draws
every measured component's p95 latency relative to its target against load, the target as a line.
Importing this module registers the tab (:func:`~planner_tui.tui.screens.chart_screen.register_chart`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner_tui.profiling.chart import draw_against_targets
from planner_tui.profiling.output import read_sweep
from planner_tui.profiling.records import SweepResult
from planner_tui.tui.screens.chart_screen import register_chart

if TYPE_CHECKING:
    from planner_tui.tui.app import DashboardApp

_cache: dict[str, tuple[float, SweepResult]] = {}


def _sweep(path: str) -> SweepResult:
    modified = Path(path).expanduser().stat().st_mtime
    cached = _cache.get(path)
    if cached is None or cached[0] != modified:
        _cache.clear()
        _cache[path] = (modified, read_sweep(path))
    return _cache[path][1]


def draw_profile(plt: Any, app: DashboardApp, window_s: float | None) -> None:
    """The profile's latency against load (the time range does not apply: a profile is one measurement)."""
    graph = app.graph
    path = graph.planner.profile_file if graph is not None else None
    if not path:
        plt.clear_figure()
        plt.title("no capacity profile: `planner-tui profile` writes one; set [planner] profile_file to show it")
        return
    try:
        result = _sweep(path)
    except (OSError, ValueError) as exc:
        plt.clear_figure()
        plt.title(f"capacity profile {path}: {exc}")
        return
    draw_against_targets(plt, result)


register_chart("profile", draw_profile)
