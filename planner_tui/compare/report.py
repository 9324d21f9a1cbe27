"""How ``compare`` shows its results: a table, JSON, and a chart per candidate side by side (plotext)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from planner_tui.compare.run import CandidateResult
from planner_tui.recording.plots import autoscaled_with_figures, draw_figure, draw_replicas


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f}ms" if value < 10 else f"{value:.1f}s"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


COLUMNS = (
    "candidate",
    "TTFT p95",
    "ITL p95",
    "req in SLA",
    "windows in SLA",
    "GPU-s",
    "actions",
    "flaps",
    "dropped",
    "over bound",
)


def table(results: Sequence[CandidateResult]) -> str:
    """One row per candidate, then each candidate's settings."""
    rows = [list(COLUMNS)]
    for r in results:
        rows.append(
            [
                r.name,
                f"{_seconds(r.ttft_p95_s)}/{_seconds(r.ttft_target_s)}",
                f"{_seconds(r.itl_p95_s)}/{_seconds(r.itl_target_s)}",
                _share(r.requests_within_sla),
                _share(r.windows_within_sla),
                f"{r.gpu_seconds:.0f}",
                str(r.scale_actions),
                str(r.flaps),
                str(r.dropped),
                str(r.over_bound),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    for r in results:
        lines.append(
            f"{r.name}: {r.description}; {r.arrived} requests, {r.finished} finished, evaluated in {r.wall_s:.1f} s"
        )
    return "\n".join(lines)


def to_json(results: Sequence[CandidateResult], workload: str) -> str:
    """The ``--json`` document."""
    data: dict[str, Any] = {"workload": workload, "candidates": [r.to_dict() for r in results]}
    return json.dumps(data, indent=2)


def charts(results: Sequence[CandidateResult], width: int = 160, height: int = 24) -> str:
    """The dashboard's charts for each candidate, side by side (one column each): replicas per component
    with the decisions marked, then the figure each autoscaled component's policy acts on with its
    thresholds. ``height`` is per row of charts."""
    import plotext as plt

    shown = [(r, r.timeline) for r in results if r.timeline is not None]
    if not shown:
        return ""
    figures = [autoscaled_with_figures(timeline) for _, timeline in shown]
    rows = 1 + max(len(names) for names in figures)
    points = max(20, width // len(shown) - 10)
    plt.clf()
    plt.subplots(rows, len(shown))
    plt.limit_size(False, False)  # the size asked for, not the terminal's (a pipe has none)
    plt.plotsize(width, height * rows)
    plt.theme("clear")
    for column, ((result, timeline), names) in enumerate(zip(shown, figures, strict=True), start=1):
        plt.subplot(1, column)
        draw_replicas(plt, timeline, points, title=f"{result.name}: replicas ({len(timeline.marks)} decisions)")
        for row, name in enumerate(names, start=2):
            plt.subplot(row, column)
            draw_figure(plt, timeline, name, points, prefix=f"{result.name} ")
    text: str = plt.build()
    plt.clf()
    return text
