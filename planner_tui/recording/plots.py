"""The charts of a run, drawn with plotext from a :class:`~planner_tui.recording.timeline.Timeline`.

One drawing for every place that shows a run: the dashboard's chart screen (live or replayed, through
textual-plotext's ``plt``) and ``planner-tui compare`` (plotext itself, one column per candidate). Each
function draws into the current plot or subplot of ``plt``; the caller owns the figure.
"""

from __future__ import annotations

from typing import Any

from planner_tui.recording.timeline import Timeline, downsample

#: the most points a line gets (a chart is at most a few hundred columns wide)
MAX_POINTS = 400


def autoscaled_with_figures(timeline: Timeline) -> list[str]:
    """The autoscaled components whose policy figure was recorded, in the graph's order."""
    thresholds = timeline.thresholds()
    return [n for n in timeline.components if n in thresholds and timeline.signals.get(n)]


def draw_replicas(plt: Any, timeline: Timeline, points: int = MAX_POINTS, title: str | None = None) -> None:
    """Replicas per autoscaled component (minutes from the start), a vertical line at each scaling decision."""
    start = timeline.start or 0.0
    autoscaled = set(timeline.thresholds())
    for name in timeline.components:
        if name not in autoscaled:
            continue
        series = downsample(timeline.replicas.get(name, []), points)
        if series:
            plt.plot([(t - start) / 60 for t, _ in series], [v for _, v in series], label=name, marker="braille")
    for mark in timeline.marks:
        plt.vline((mark.timestamp - start) / 60, "gray")
    marked = f"replicas per component; {len(timeline.marks)} scaling decision(s) marked"
    plt.title(title if title is not None else marked)
    plt.xlabel("minutes")


def draw_figure(plt: Any, timeline: Timeline, name: str, points: int = MAX_POINTS, prefix: str = "") -> None:
    """The figure ``name``'s policy acts on, its scale-up (red) and scale-down (blue) thresholds, and the
    component's scaling decisions."""
    start = timeline.start or 0.0
    threshold = timeline.thresholds()[name]
    series = downsample(timeline.signals.get(name, []), points)
    plt.plot([(t - start) / 60 for t, _ in series], [v for _, v in series], label=threshold.label, marker="braille")
    for line, value in (("up", threshold.up), ("down", threshold.down)):
        if value is not None:
            plt.hline(value, "red" if line == "up" else "blue")
    for mark in timeline.marks:
        if mark.component == name:
            plt.vline((mark.timestamp - start) / 60, "gray")
    plt.title(f"{prefix}{name}: {threshold.label} (up {_num(threshold.up)}, down {_num(threshold.down)})")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
