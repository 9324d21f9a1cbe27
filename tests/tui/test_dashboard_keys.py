"""Keys against the dashboard on fixed data: each key's effect on the source, refusals, errors, quitting."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, RichLog

from planner_tui.model import PlannerMode
from planner_tui.runtime.events import DecisionMade, SessionError, SnapshotReady
from planner_tui.tui.app import DashboardApp
from planner_tui.tui.messages import SessionEventArrived
from planner_tui.tui.sample_data import sample_decisions, sample_graph, sample_snapshot
from planner_tui.tui.screens import ConfirmDialog, LogScreen, MainScreen, QuitDialog, ScaleDialog
from planner_tui.tui.widgets import ComponentPanel, StatusLine
from tests.tui.dashboard_fixtures import demo_app, demo_source


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.pause()


async def select(pilot: Pilot[None], component: str) -> MainScreen:
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, MainScreen)
    for _ in range(5):
        if screen.selected_component() == component:
            return screen
        await pilot.press("down")
    raise AssertionError(f"could not select {component}")


def desired(app: DashboardApp, component: str) -> int:
    source = app.source
    assert source is not None and source.latest_snapshot is not None
    return source.latest_snapshot.components[component].desired_replicas


def status_text(app: DashboardApp) -> str:
    return str(app.main_screen.query_one(StatusLine).render())


async def test_plus_and_minus_scale_the_selected_component_and_pin_it() -> None:
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, "decode")
        await pilot.press("plus")
        await settle(pilot)
        assert desired(app, "decode") == 4
        assert app.source is not None and "decode" in app.source.pins
        panel = app.main_screen.query_one("#component-decode", ComponentPanel)
        assert "desired 4" in str(panel.render())
        await pilot.press("minus", "minus")
        await settle(pilot)
        assert desired(app, "decode") == 2


async def test_scaling_past_a_bound_is_refused_before_calling_the_source() -> None:
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, "frontend")
        await pilot.press("plus")
        await settle(pilot)
        assert desired(app, "frontend") == 1
        assert any("at its maximum (1 replicas)" in n.message for n in app._notifications)


async def test_read_only_hides_changing_keys_and_refuses_them_with_a_reason() -> None:
    app = demo_app(read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, "decode")
        shown = {b.binding.action for b in app.screen.active_bindings.values() if b.binding.show}
        assert {"logs", "details", "filter"} <= shown
        assert not shown & {"scale_up", "scale_down", "scale_dialog", "restart", "toggle_pin", "cycle_mode"}
        for key in ("plus", "minus", "s", "r", "p", "m", "L"):
            await pilot.press(key)
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)  # no dialog opened
        assert desired(app, "decode") == 3
        assert app.source is not None and app.source.mode is PlannerMode.AUTO and not app.source.pins
        assert "refused" in status_text(app) and "--read-only" in status_text(app)


async def test_scale_dialog_is_prefilled_and_checks_bounds_and_free_gpus() -> None:
    graph = sample_graph(gpus=6)  # 5 GPUs used by 2 prefill + 3 decode: 1 free
    app = demo_app(demo_source(graph=graph))
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, "decode")
        await pilot.press("s")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ScaleDialog)
        box = dialog.query_one("#scale-count", Input)
        assert box.value == "3"
        await pilot.press("backspace", "5", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ScaleDialog)
        assert "2 more replicas need 2 GPUs; 1 free" in str(dialog.query_one("#scale-error").render())
        await pilot.press("backspace", "9", "enter")
        assert "allows 1..5 replicas, got 9" in str(dialog.query_one("#scale-error").render())
        await pilot.press("backspace", "4", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert desired(app, "decode") == 4


async def test_restart_asks_first_and_gives_replicas_new_pids() -> None:
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, "prefill")
        before = [r.pid for r in app.source.latest_snapshot.components["prefill"].replicas]  # type: ignore[union-attr]
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await settle(pilot)
        assert [r.pid for r in app.source.latest_snapshot.components["prefill"].replicas] == before  # type: ignore[union-attr]
        await pilot.press("r", "y")
        await settle(pilot)
        after = [r.pid for r in app.source.latest_snapshot.components["prefill"].replicas]  # type: ignore[union-attr]
        assert len(after) == len(before) and not set(after) & set(before)


async def test_pin_toggles_and_mode_cycles() -> None:
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, "prefill")
        source = app.source
        assert source is not None
        await pilot.press("p")
        await settle(pilot)
        assert source.pins["prefill"].replicas == 2
        assert "PINNED @2" in str(app.main_screen.query_one("#component-prefill", ComponentPanel).render())
        await pilot.press("p")
        await settle(pilot)
        assert "prefill" not in source.pins
        await pilot.press("m")
        await settle(pilot)
        assert source.mode is PlannerMode.ADVISORY
        await pilot.press("m", "m")
        await settle(pilot)
        assert source.mode is PlannerMode.AUTO


async def test_load_keys_scale_the_simulated_load() -> None:
    source = demo_source()
    app = demo_app(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("L")
        await settle(pilot)
        assert source.load_factor == 1.5
        await pilot.press("H")
        await settle(pilot)
        assert abs(source.load_factor - 1.0) < 1e-9


async def test_filter_hides_components_that_do_not_match() -> None:
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"deco", "enter")
        await settle(pilot)
        visible = [p.component for p in app.main_screen.query(ComponentPanel) if p.display]
        assert visible == ["decode"]
        assert app.main_screen.selected_component() == "decode"
        await pilot.press("escape")
        await settle(pilot)
        assert [p.component for p in app.main_screen.query(ComponentPanel) if p.display] == [
            "frontend",
            "prefill",
            "decode",
        ]


async def test_a_failing_connector_is_reported_and_the_app_keeps_running() -> None:
    app = demo_app(demo_source(action_error="circusd did not answer within 5 s"))
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, "decode")
        await pilot.press("plus")
        await settle(pilot)
        assert "failed: circusd did not answer within 5 s" in status_text(app)
        assert app.is_running
        await pilot.press("d")
        await settle(pilot)
        assert app.screen.__class__.__name__ == "DetailsScreen"


async def test_quit_can_stop_the_graph_or_leave_it_running() -> None:
    for key, stop in (("s", True), ("l", False)):
        source = demo_source()
        app = demo_app(source)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("q")
            await settle(pilot)
            assert isinstance(app.screen, QuitDialog)
            await pilot.press(key)
            await settle(pilot)
        assert source.closed is stop


async def test_read_only_quit_never_stops_the_graph() -> None:
    source = demo_source(read_only=True)
    app = demo_app(source, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("q", "s")
        await settle(pilot)
        assert isinstance(app.screen, QuitDialog)
        await pilot.press("l")
        await settle(pilot)
    assert source.closed is False


async def test_log_screen_follows_pauses_on_scroll_up_searches_and_saves(isolated_dirs: Path) -> None:
    app = demo_app()
    async with app.run_test(size=(100, 20)) as pilot:
        await select(pilot, "decode")
        await pilot.press("l")
        screen = app.screen
        assert isinstance(screen, LogScreen)
        view = screen.query_one(RichLog)
        for _ in range(100):
            await pilot.pause(0.02)
            if len(view.lines) >= 40:
                break
        assert len(view.lines) == 40 and screen.following
        view.scroll_to(y=0, animate=False, immediate=True)
        await settle(pilot)
        assert not screen.following and screen.auto_paused
        screen.receive([screen.lines[-1]])
        await pilot.pause(0.4)
        assert len(view.lines) == 40  # paused: new lines wait
        await pilot.press("f")
        await settle(pilot)
        assert screen.following and len(view.lines) == 41
        await pilot.press("slash", *"warning", "enter")
        await settle(pilot)
        rendered = [strip.text for strip in view.lines]
        assert any("WARNING" in line for line in rendered) and "--" in rendered
        assert len(rendered) < 41
        await pilot.press("ctrl+s")
        await settle(pilot)
        saved = list((isolated_dirs / "state" / "saved-logs").glob("demo-decode-*.log"))
        assert len(saved) == 1 and len(saved[0].read_text().splitlines()) == 41
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)


async def test_command_palette_lists_only_allowed_actions() -> None:
    from planner_tui.tui.commands import ActionCommands

    for read_only in (False, True):
        app = demo_app(read_only=read_only)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            provider = ActionCommands(app.screen)
            helps = [hit.text async for hit in provider.discover()]
            assert any("Tail the selected" in str(h) for h in helps)
            assert any("Scale the selected component up" in str(h) for h in helps) is not read_only


def test_snapshots_coalesce_but_decisions_do_not() -> None:
    first, second = (SessionEventArrived(SnapshotReady(sample_snapshot(t))) for t in (1.0, 2.0))
    assert second.can_replace(first)
    one, two = (SessionEventArrived(DecisionMade(d)) for d in sample_decisions()[:2])
    assert not two.can_replace(one) and not second.can_replace(one) and not two.can_replace(first)
    down, again, other = (SessionEventArrived(SessionError(m)) for m in ("scrape failed", "scrape failed", "gone"))
    assert again.can_replace(down) and not other.can_replace(down) and not second.can_replace(down)
