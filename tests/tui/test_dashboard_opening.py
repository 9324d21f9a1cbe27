"""The first frame comes before the graph is up; a graph that cannot start is reported, never a crash."""

from __future__ import annotations

import asyncio

from textual.pilot import Pilot
from textual.widgets._footer import FooterKey

from planner_tui.connectors.errors import ConnectorError
from planner_tui.runtime.source import GraphSource
from planner_tui.tui.app import DashboardApp
from planner_tui.tui.screens import MainScreen, QuitDialog
from planner_tui.tui.widgets import HeaderBar, StatusLine
from tests.tui.dashboard_fixtures import demo_source, frozen_clock


class SlowOpener:
    """Opens a StaticSource once ``release`` is set, like Session.open starting circusd."""

    namespace = "demo"

    def __init__(self, error: Exception | None = None) -> None:
        self.release = asyncio.Event()
        self.error = error

    async def __call__(self) -> GraphSource:
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return demo_source()


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(4):
        await pilot.pause()


async def test_first_frame_shows_connecting_then_the_graph() -> None:
    opener = SlowOpener()
    app = DashboardApp(opener=opener, clock=frozen_clock, remember_theme=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        header = str(app.screen.query_one(HeaderBar).render())
        assert "ns demo" in header and "connecting…" in header
        assert "disconnected" not in header  # starting is not a failure
        assert "starting the graph" in str(app.screen.query_one(StatusLine).render())
        await pilot.press("plus")  # nothing to act on yet: refused politely
        opener.release.set()
        for _ in range(50):
            await pilot.pause(0.02)
            if app.source is not None and app.snapshot is not None:
                break
        await settle(pilot)
        assert "local" in str(app.screen.query_one(HeaderBar).render())
        assert app.main_screen.selected_component() == "frontend"


async def test_a_graph_that_cannot_start_is_reported_and_quit_still_works() -> None:
    opener = SlowOpener(ConnectorError("circusd did not start: port 127.0.0.1:5555 is taken"))
    app = DashboardApp(opener=opener, clock=frozen_clock, remember_theme=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        opener.release.set()
        await settle(pilot)
        status = str(app.screen.query_one(StatusLine).render())
        assert "cannot start the graph: circusd did not start: port 127.0.0.1:5555 is taken" in status
        header = str(app.screen.query_one(HeaderBar).render())
        assert "not started (disconnected)" in header and "connecting" not in header
        assert app.is_running
        await pilot.press("q")
        await settle(pilot)
        assert isinstance(app.screen, QuitDialog)
        await pilot.press("l")
        await settle(pilot)
    assert app.return_code == 0


async def test_quitting_while_the_graph_starts_waits_and_then_stops_it() -> None:
    opener = SlowOpener()
    opened: list[GraphSource] = []

    async def open_and_remember() -> GraphSource:
        source = await opener()
        opened.append(source)
        return source

    app = DashboardApp(opener=open_and_remember, clock=frozen_clock, remember_theme=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert app.is_running and "waiting for the graph to finish starting" in str(
            app.main_screen.query_one(StatusLine).render()
        )
        opener.release.set()
        for _ in range(100):
            if not app.is_running:
                break
            await pilot.pause(0.02)
    assert len(opened) == 1 and opened[0].closed is True  # type: ignore[attr-defined]


async def test_the_footer_shows_the_keys_without_a_key_press() -> None:
    """The footer is mounted after the first frame; it must list the keys before anything is pressed or
    focused, even while the graph is still starting (it fills itself only when the screen's bindings are
    announced, and nothing else announces them then)."""
    opener = SlowOpener()  # never released: the graph is still starting
    app = DashboardApp(opener=opener, clock=frozen_clock, remember_theme=False)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(50):
            await pilot.pause(0.02)
            if app.screen.query(FooterKey):
                break
        keys = {key.key_display for key in app.screen.query(FooterKey)}
        assert {"q", "+", "-", "?"} <= keys, keys


async def test_the_footer_drops_the_palette_key_when_the_terminal_narrows_and_brings_it_back() -> None:
    opener = SlowOpener()
    app = DashboardApp(opener=opener, clock=frozen_clock, remember_theme=False)

    async def palette_shown() -> bool:
        for _ in range(50):
            await pilot.pause(0.02)
            if app.screen.query(FooterKey):
                break
        await settle(pilot)
        return bool(app.screen.query("FooterKey.-command-palette"))

    async with app.run_test(size=(120, 40)) as pilot:
        assert await palette_shown()
        await pilot.resize_terminal(80, 24)
        assert not await palette_shown()  # every other key fits at 80 columns
        await pilot.resize_terminal(120, 40)
        assert await palette_shown()
