"""The service's dashboard shows its deployments, GPU budget and recent requests (a real service)."""

from __future__ import annotations

from planner_tui.tui.global_planner_app import GlobalPlannerApp
from tests.globalplanner.conftest import NS, scale_body


async def test_the_dashboard_shows_deployments_budget_and_requests(start_service, tokens, two_graphs) -> None:
    path, made = tokens
    gp = start_service(environment="local", graphs=two_graphs, token_file=path, max_total_gpus=6)
    assert gp.post(scale_body("app-a", "a", decode=2), token=made["app-a"]).json()["status"] == "success"
    assert gp.post(scale_body("app-a", "a", decode=2)).status_code == 401
    viewer = path.with_name("ops.token")
    viewer.write_text(made["ops"])
    viewer.chmod(0o600)

    app = GlobalPlannerApp(gp.url, NS, str(viewer), interval=60)
    async with app.run_test() as pilot:
        while app.status is None:  # the first poll, on the app's own worker
            await pilot.pause(0.05)
        budget = str(app.query_one("#budget").render())
        assert "GPU budget: 5 of 6 used" in budget
        deployments = app.query_one("#deployments")
        rows = [tuple(str(c) for c in deployments.get_row_at(i)) for i in range(deployments.row_count)]
        assert ("default/a", "decode", "decode", "2") in [r[:4] for r in rows]
        assert ("default/b", "decode", "decode", "1") in [r[:4] for r in rows]
        requests = app.query_one("#requests")
        newest = [str(c) for c in requests.get_row_at(0)]
        assert newest[1:5] == ["?", "-", "", "error (HTTP 401)"]
        oldest = [str(c) for c in requests.get_row_at(1)]
        assert oldest[1:5] == ["app-a", "default/a", "decode=2", "success"]


async def test_without_a_viewer_token_the_dashboard_says_how_to_get_one(start_service, tokens) -> None:
    path, _ = tokens
    gp = start_service(no_operation=True, token_file=path)
    app = GlobalPlannerApp(gp.url, NS, None, interval=60)
    async with app.run_test() as pilot:
        problem = app.query_one("#problem")
        while not str(problem.render()):
            await pilot.pause(0.05)
        assert "needs a viewer's token: --token-file FILE" in str(problem.render())
