"""How ``compare`` shows its results: a table, JSON, and a chart per candidate side by side (plotext)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from planner_tui.compare.run import CandidateResult
from planner_tui.recording.timeline import Timeline, downsample


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
    """Each candidate's replicas per component over time, decisions marked, side by side."""
    import plotext as plt

    timelines = [r.timeline for r in results if r.timeline is not None]
    if not timelines:
        return ""
    plt.clf()
    plt.subplots(1, len(timelines))
    plt.plotsize(width, height)
    plt.theme("clear")
    for column, (result, timeline) in enumerate(zip(results, timelines, strict=False), start=1):
        plt.subplot(1, column)
        draw_replicas(plt, timeline, max(20, width // len(timelines) - 10))
        plt.title(result.name)
    text: str = plt.build()
    plt.clf()
    return text


def draw_replicas(plt: Any, timeline: Timeline, points: int) -> None:
    """Replicas per component (minutes from the start) with a vertical line at each change."""
    start = timeline.start or 0.0
    for name in timeline.components:
        series = downsample(timeline.replicas.get(name, []), points)
        if series:
            plt.plot([(t - start) / 60 for t, _ in series], [v for _, v in series], label=name, marker="braille")
    for mark in timeline.marks:
        plt.vline((mark.timestamp - start) / 60, "gray")
    plt.xlabel("minutes")
    plt.ylabel("replicas")
