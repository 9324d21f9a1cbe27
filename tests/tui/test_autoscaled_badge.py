"""The dashboard marks a component with the planner's mode exactly when the engine autoscales it."""

from __future__ import annotations

from planner_tui.config import GraphConfig
from planner_tui.planner import EngineConfig
from planner_tui.tui.app import DashboardApp
from planner_tui.tui.sample_data import sample_graph
from planner_tui.tui.widgets import ComponentPanel
from tests.tui.dashboard_fixtures import demo_app, demo_source


def panel_text(app: DashboardApp, component: str) -> str:
    return str(app.screen.query_one(f"#component-{component}", ComponentPanel).render())


async def test_a_frontend_with_bounds_and_no_policy_is_manual_as_the_engine_sees_it() -> None:
    data = sample_graph().model_dump(mode="json", exclude_none=True)
    data["components"]["frontend"] |= {"min_replicas": 1, "max_replicas": 3}
    del data["components"]["frontend"]["port"]  # a fixed port allows one replica
    graph = GraphConfig.model_validate(data)
    assert "frontend" not in EngineConfig.of(graph).autoscaled
    app = demo_app(demo_source(graph=graph))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "MANUAL" in panel_text(app, "frontend")
        assert "MANUAL" not in panel_text(app, "decode") and "AUTO" in panel_text(app, "decode")
