"""The log screen keeps the lines of a replica removed by a real scale-down, marked as gone."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import RichLog

from planner_tui.connectors.local import LocalConnector
from planner_tui.model import LogLine
from planner_tui.tui.screens import LogScreen
from tests.connectors.local.conftest import connect, make_graph, replica_args, state_root, worker

__all__ = ["connect", "state_root"]  # the local connector's fixtures: a real graph under circusd, cleaned up


class ConnectorLogs:
    """The two log calls the screen makes, answered by a running local connector."""

    def __init__(self, connector: LocalConnector) -> None:
        self.connector = connector

    async def logs(self, component: str, lines: int = 200) -> list[LogLine]:
        return await self.connector.get_component_logs(component, lines)

    def follow_logs(self, component: str) -> AsyncIterator[LogLine]:
        return self.connector.follow_component_logs(component)


async def until(pilot: Pilot[None], check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.1)


def shown(screen: LogScreen) -> str:
    return "\n".join(strip.text for strip in screen.query_one("#log-view", RichLog).lines)


async def test_a_scaled_down_replicas_lines_stay_marked_gone(connect) -> None:  # type: ignore[no-untyped-def]
    ticking = replica_args("--lines", "3", "--line-every", "0.2")  # a tick line every 0.2 s
    conn = await connect(make_graph("tui-gone", {"decode": worker(args=ticking)}))
    await conn.scale_component("decode", 2)
    await conn.wait_until_stable(["decode"], 30)
    source = ConnectorLogs(conn)
    async with App[None]().run_test(size=(120, 30)) as pilot:
        screen = LogScreen("decode", source)
        await pilot.app.push_screen(screen)

        def texts() -> set[str]:
            return {line.text for line in screen.lines}

        await until(pilot, lambda: {"decode0 line 2", "decode1 line 2"} <= texts(), "both replicas' lines")

        def newest_tick() -> int:
            ticks = [int(t.split()[2]) for t in texts() if t.startswith("decode1 tick ")]
            return max(ticks, default=-1)

        seen = newest_tick()  # the tail read on opening; a newer tick can only come from the follower
        await until(pilot, lambda: newest_tick() > seen + 1, "the follower delivering decode-1's new lines")

        await conn.scale_component("decode", 1)
        await conn.wait_until_stable(["decode"], 30)
        await until(pilot, lambda: "decode1 stopping" in texts(), "the removed replica's last words")
        await until(pilot, lambda: "[decode-1 (gone)] -- replica removed --" in shown(screen), "the removal mark")
        decode1 = [line for line in screen.lines if line.replica == "decode-1"]
        assert all(line.gone for line in decode1), [line.format() for line in decode1]
        assert not any(line.gone for line in screen.lines if line.replica == "decode-0")
        view = shown(screen)
        assert "[decode-1 (gone)] decode1 line 0" in view and "[decode-1 (gone)] decode1 stopping" in view
        assert "[decode-0] decode0 line 2" in view
        pilot.app.pop_screen()

        reopened = LogScreen("decode", source)  # opened after the scale-down: the lines are still there
        await pilot.app.push_screen(reopened)
        await until(pilot, lambda: "[decode-1 (gone)] decode1 stopping" in shown(reopened), "the gone lines on opening")
