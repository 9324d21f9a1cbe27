"""A replica row's load figure says when it is stale (its endpoint stopped giving it: the last value
known, muted) or invalid (+Inf, NaN: never shown as a load)."""

from __future__ import annotations

import dataclasses

from planner_tui.model import Signal
from planner_tui.tui.sample_data import sample_graph, sample_snapshot
from planner_tui.tui.static_source import StaticSource
from planner_tui.tui.widgets import ComponentPanel
from tests.tui.dashboard_fixtures import demo_app, frozen_clock


def rows(text: str) -> dict[str, str]:
    """Replica index -> its row in a component panel's text."""
    found = {}
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0].isdigit():
            found[fields[0]] = line
    return found


async def test_a_stale_figure_is_marked_and_an_invalid_one_is_not_shown_as_a_load() -> None:
    graph = sample_graph()
    fresh = sample_snapshot(graph=graph)
    changed = []
    for value in fresh.replica_signals:
        if value.signal is Signal.KV_USAGE and value.replica == "decode-0":
            value = dataclasses.replace(value, value=0.49, stale=True)  # its scrape timed out: last known
        elif value.signal is Signal.KV_USAGE and value.replica == "decode-1":
            value = dataclasses.replace(value, value=float("inf"), invalid="not a finite number")
        changed.append(value)
    snapshot = dataclasses.replace(fresh, replica_signals=tuple(changed))
    decode = [r for r in snapshot.components["decode"].replicas]
    assert len(decode) >= 2, "the sample graph has two decode replicas"
    app = demo_app(StaticSource(graph, snapshot, clock=frozen_clock))
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        text = str(app.screen.query_one("#component-decode", ComponentPanel).render())
        lines = rows(text)
        assert "kv 49% stale" in lines["0"], lines
        assert "kv invalid" in lines["1"] and "inf" not in lines["1"].lower(), lines
        assert "stale" not in str(app.screen.query_one("#component-prefill", ComponentPanel).render())
