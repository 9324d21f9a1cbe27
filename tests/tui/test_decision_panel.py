"""The decision panel's header counts what the panel lists, and says how many HOLDs it leaves out."""

from __future__ import annotations

from planner_tui.tui.widgets import DecisionLog
from tests.tui.dashboard_fixtures import demo_app


async def test_header_counts_the_listed_decisions_and_names_the_hidden_holds() -> None:
    app = demo_app()
    async with app.run_test(size=(140, 50)) as pilot:
        for _ in range(3):
            await pilot.pause()
        panel = app.main_screen.query_one(DecisionLog)
        lines = [line for line in str(panel.render()).splitlines() if line.strip()]
        # the sample data: five decisions that change or hold something, one "frontend stays 1" HOLD
        assert len(lines) == 5 and not any("frontend stays 1" in line for line in lines)
        assert panel.border_title == "Decisions · 5 · 1 HOLD hidden"
