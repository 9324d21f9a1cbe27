"""What the dashboard looks like: SVG snapshots of each screen on fixed data with a frozen clock.

Update them with ``pytest tests/tui/test_snapshots.py --snapshot-update`` after an intended change.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import RichLog

from planner_tui.tui.screens import LogScreen, MainScreen, ScaleDialog
from tests.tui.dashboard_fixtures import CONNECTOR_ERROR, demo_app, demo_source

SnapCompare = Callable[..., bool]


async def settle(pilot: Pilot[None]) -> None:
    """Let workers deliver and the screen redraw."""
    for _ in range(3):
        await pilot.pause()
    await pilot.wait_for_scheduled_animations()


async def select_decode(pilot: Pilot[None]) -> None:
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, MainScreen)
    for _ in range(4):
        if screen.selected_component() == "decode":
            break
        await pilot.press("down")
    assert screen.selected_component() == "decode"


def test_main_screen_demo(snap_compare: SnapCompare) -> None:
    assert snap_compare(demo_app(), terminal_size=(120, 40), run_before=settle)


def test_main_screen_small_terminal(snap_compare: SnapCompare) -> None:
    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=settle)


def test_main_screen_without_gpus(snap_compare: SnapCompare) -> None:
    assert snap_compare(demo_app(demo_source(gpus=0)), terminal_size=(120, 40), run_before=settle)


def test_read_only_mode_hides_changes_and_refuses_them(snap_compare: SnapCompare) -> None:
    async def press_plus(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("plus")
        await settle(pilot)

    assert snap_compare(demo_app(read_only=True), terminal_size=(120, 40), run_before=press_plus)


def test_connector_error_state(snap_compare: SnapCompare) -> None:
    app = demo_app(demo_source(error=CONNECTOR_ERROR))
    assert snap_compare(app, terminal_size=(120, 40), run_before=settle)


def test_log_screen(snap_compare: SnapCompare) -> None:
    async def open_logs(pilot: Pilot[None]) -> None:
        await select_decode(pilot)
        await pilot.press("l")
        screen = pilot.app.screen
        assert isinstance(screen, LogScreen)
        view = screen.query_one(RichLog)
        for _ in range(50):
            await pilot.pause(0.05)
            if len(view.lines) >= 40:
                break
        await pilot.press("slash", *"warning", "enter")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=(120, 40), run_before=open_logs)


def test_scale_dialog(snap_compare: SnapCompare) -> None:
    async def open_dialog(pilot: Pilot[None]) -> None:
        await select_decode(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(pilot.app.screen, ScaleDialog)
        await pilot.press("backspace", "6")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=(120, 40), run_before=open_dialog)


def test_help_screen(snap_compare: SnapCompare) -> None:
    async def open_help(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=(120, 40), run_before=open_help)


def test_details_screen(snap_compare: SnapCompare) -> None:
    async def open_details(pilot: Pilot[None]) -> None:
        await select_decode(pilot)
        await pilot.press("d")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=(120, 40), run_before=open_details)
