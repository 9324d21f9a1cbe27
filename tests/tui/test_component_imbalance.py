"""The component panel shows the mean the planner uses with the max and the spread over the replicas,
and a source's error about the component (a Prometheus selector matching nothing) in the panel."""

from __future__ import annotations

from planner_tui.model.imbalance import replica_spread
from planner_tui.tui.app import DashboardApp
from planner_tui.tui.sample_data import sample_graph, sample_snapshot
from planner_tui.tui.static_source import StaticSource
from planner_tui.tui.widgets import ComponentPanel
from tests.tui.dashboard_fixtures import demo_app, frozen_clock

NO_MATCH = (
    'component decode: no series in Prometheus match {dynamo_namespace="demo",dynamo_component="decode"} '
    "(read for inflight, request_rate); set dynamo_namespace / dynamo_component"
)


def panel_text(app: DashboardApp, component: str) -> str:
    return str(app.screen.query_one(f"#component-{component}", ComponentPanel).render())


async def test_the_decode_panel_shows_the_max_and_the_spread() -> None:
    app = demo_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        assert app.snapshot is not None
        spread = replica_spread(app.snapshot, "decode")
        assert spread is not None and spread.count > 1
        text = panel_text(app, "decode")
        assert spread.describe() in text
        assert f"max {spread.max:.2f} on {spread.max_replica}, spread {spread.spread:.2f}" in text
        assert "spread" not in panel_text(app, "frontend")


async def test_a_selector_matching_nothing_is_shown_in_its_component_panel() -> None:
    graph = sample_graph()
    source = StaticSource(graph, sample_snapshot(graph=graph, errors=(NO_MATCH,)), clock=frozen_clock)
    app = demo_app(source)
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.pause()
        assert "! no series in Prometheus match {dynamo_namespace=" in panel_text(app, "decode")
        assert "no series" not in panel_text(app, "prefill")
        assert NO_MATCH in app.alerts()


NOT_READY = 'replica decode-0 not ready after 120 s: /health 503 {"status":"notready"}'


class _TroubledConnector:
    kind = "local"
    label = "local"

    @property
    def problems(self) -> list[str]:
        return [NOT_READY]


async def test_the_connectors_problems_are_alerts_in_the_header() -> None:
    """A replica that never became ready is a connector problem: the header counts it, the alerts list it."""
    graph = sample_graph()
    source = StaticSource(graph, sample_snapshot(graph=graph), clock=frozen_clock)
    app = demo_app(source)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        before = app.header_state().alerts
        source._connector = _TroubledConnector()  # type: ignore[assignment]
        assert app.header_state().alerts == before + 1
        assert NOT_READY in app.alerts()
