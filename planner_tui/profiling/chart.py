"""The sweep's chart: p95 latency against load, one line per length, with the target as a line.

:func:`draw_latency` draws on a plotext-like object (the ``plotext`` module itself for the terminal, or
textual-plotext's ``PlotextPlot.plt`` in the dashboard); :func:`render_chart` returns the terminal text.
plotext is imported only here, and only when a chart is drawn.
"""

from __future__ import annotations

from typing import Any

from planner_tui.profiling.records import SweepResult


def chart_series(result: SweepResult, component: str) -> list[tuple[str, list[float], list[float]]]:
    """(label, loads, p95 latencies in ms) per length of ``component``, sorted by load, points with a p95 only."""
    series: list[tuple[str, list[float], list[float]]] = []
    phase = result.components[component]
    for length in sorted({p.length for p in result.points_of(component)}):
        points = sorted(
            (p for p in result.points_of(component, length) if p.latency.p95 is not None), key=lambda p: p.load
        )
        if points:
            label = f"{phase.axis} {length:g}"
            series.append((label, [p.load for p in points], [(p.latency.p95 or 0.0) * 1000 for p in points]))
    return series


def draw_latency(plt: Any, result: SweepResult, component: str) -> None:
    """Draw ``component``'s p95 latency against load on ``plt`` (plotext's API), the target in red."""
    phase = result.components[component]
    target_ms = result.targets.seconds(phase) * 1000
    series = chart_series(result, component)
    plt.clear_data()
    for label, loads, latencies in series:
        plt.plot(loads, latencies, label=label, marker="dot")
    plt.hline(target_ms, "red")
    top = max([target_ms * 1.5] + [min(max(lat), target_ms * 4) for _, _, lat in series])
    plt.ylim(0, top)
    partial = " (PARTIAL)" if result.partial else ""
    plt.title(f"{component}: {phase.latency_name} p95 against load; target {target_ms:g} ms{partial}")
    plt.xlabel(
        result.load_kind.value.replace("_", " ") + (" (req/s)" if result.load_kind.value == "request_rate" else "")
    )
    plt.ylabel(f"{phase.latency_name} p95 (ms)")


def render_chart(result: SweepResult, component: str, width: int = 100, height: int = 22) -> str:
    """The chart of ``component`` as terminal text (plotext), without colour codes when not asked."""
    import plotext

    plotext.clear_figure()
    plotext.plotsize(width, height)
    plotext.theme("clear")
    draw_latency(plotext, result, component)
    text: str = plotext.build()
    plotext.clear_figure()
    return text


def draw_against_targets(plt: Any, result: SweepResult) -> None:
    """Every measured component on one plot: p95 latency / its target against load, the target at 1.0.

    One line per component and length (TTFT for prefill, ITL for decode): the dashboard's profile tab.
    """
    plt.clear_data()
    plt.clear_figure()
    for component, phase in result.components.items():
        target_ms = result.targets.seconds(phase) * 1000
        for label, loads, latencies in chart_series(result, component):
            plt.plot(loads, [min(lat / target_ms, 4.0) for lat in latencies], label=f"{component} {label}")
    plt.hline(1.0, "red")
    plt.ylim(0, 2.0)
    partial = " PARTIAL" if result.partial else ""
    plt.title(f"profile{partial}: p95 / target (TTFT {result.targets.ttft_ms:g}, ITL {result.targets.itl_ms:g} ms)")
    plt.xlabel(result.load_kind.value.replace("_", " "))
